"""Where a training stage runs (``train.device``) and in which precision its forward pass runs (``train.precision``).

``train.device``: "auto" (CUDA when torch sees one, else the CPU), "cpu", "cuda" or "cuda:N". Asking for CUDA where
there is none is a one-line DpldmError, never a silent fall-back to the CPU. The device changes where the numbers
are computed, not what they are (up to floating-point rounding), so a run may resume on another device.

``train.precision``: "fp32" (the default) or "bf16": the forward pass and the loss run under ``torch.autocast`` in
bfloat16; the weights, the optimizer, the gradients (and, for DP-SGD, the per-example gradients, their clipping
and the noise) stay float32. bf16 changes the results, so a run keeps the precision it started with.
"""

from __future__ import annotations

import contextlib
import re
from typing import Iterator

import torch

from dpldm.errors import DpldmError

PRECISIONS = ("fp32", "bf16")
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def check_device_name(name: str) -> None:
    """Raise ValueError unless ``name`` is a device string this project accepts (checked when a config loads)."""
    if not isinstance(name, str) or not _DEVICE.match(name):
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {name!r}")


def check_precision(name: str) -> None:
    if name not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {name!r}")


def resolve_device(name: str) -> torch.device:
    """The torch device for ``name`` (see the module's docstring); a one-line DpldmError when it is not here."""
    try:
        check_device_name(name)
    except ValueError as err:
        raise DpldmError(f"--device: {err}") from None
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise DpldmError(f"--device {name}: no CUDA device is available here (torch.cuda.is_available() is False); "
                         f"use --device cpu or auto")
    device = torch.device(name)
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise DpldmError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) here "
                         f"(cuda:0 .. cuda:{torch.cuda.device_count() - 1})")
    return device


def bf16_supported(device: torch.device) -> bool:
    """Whether torch can autocast to bfloat16 on ``device``."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return torch.amp.is_autocast_available(device.type)


def check_precision_on(precision: str, device: torch.device) -> None:
    """A one-line DpldmError when ``precision`` cannot run on ``device``."""
    check_precision(precision)
    if precision == "bf16" and not bf16_supported(device):
        raise DpldmError(f"train.precision=bf16: torch cannot autocast to bfloat16 on {device}; use "
                         f"train.precision=fp32")


@contextlib.contextmanager
def autocast(device: torch.device, precision: str) -> Iterator[None]:
    """The forward pass's precision: torch.autocast to bfloat16 for "bf16", nothing for "fp32".

    Wrap only the forward pass and the loss; call backward and the optimizer outside it (as torch's AMP recipe
    says), and cast the loss to float32 before it leaves the block."""
    if precision == "fp32":
        yield
        return
    check_precision(precision)
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
        yield
