"""Checks of the optimisation settings every training stage shares (lr, weight decay, EMA, logging cadence ...).

A stage's ``train:`` section calls ``check_train_settings(self)`` from its ``validate()``, so a learning rate of
``.inf`` or a ``checkpoint_every`` of 0 is one ConfigError line naming the key when the config is loaded, before
any data is read or any file is written. Only the fields a section has are checked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from dpldm.training.device import check_device_name, check_precision

# AdamW moves each weight by about lr per step, so an lr anywhere near this destroys any model; past about 3e37
# (float32's largest value times 1 - beta1) torch's own step raises a RuntimeError instead of a one-line error.
MAX_LR = 1e6

# field -> (lowest allowed, whether the lowest itself is allowed, highest allowed or None, whether it is allowed)
_RANGES: dict[str, tuple[float, bool, float | None, bool]] = {
    "lr": (0.0, False, MAX_LR, True),
    "weight_decay": (0.0, True, None, False),
    "kl_weight": (0.0, True, None, False),
    "grad_clip": (0.0, False, None, False),
    "ema_decay": (0.0, True, 1.0, False),  # 1 would freeze the exported weights at their start
    "label_dropout": (0.0, True, 1.0, True),
    "steps": (1, True, None, False),
    "batch_size": (1, True, None, False),
    "warmup_steps": (0, True, None, False),
    "holdout": (0, True, None, False),
    "log_every": (1, True, None, False),
    "checkpoint_every": (1, True, None, False),
    "threads": (0, True, None, False),
}


def check_train_settings(section: Any) -> None:
    """Raise ValueError naming the first field of ``section`` outside its range (or not finite), or a ``device``
    or ``precision`` that is not one of those ``dpldm.training.device`` knows."""
    if hasattr(section, "device"):
        check_device_name(section.device)
    if hasattr(section, "precision"):
        check_precision(section.precision)
    for name, (low, low_ok, high, high_ok) in _RANGES.items():
        if not hasattr(section, name):
            continue
        value = getattr(section, name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value}")
        if value < low or (value == low and not low_ok) or (
                high is not None and (value > high or (value == high and not high_ok))):
            lower = f">= {low:g}" if low_ok else f"> {low:g}"
            upper = "" if high is None else (f" and <= {high:.3g}" if high_ok else f" and < {high:g}")
            raise ValueError(f"{name} must be {lower}{upper}, got {value}")


@dataclass
class TrainSettings:
    """What every stage's ``train:`` section shares: where it runs, and the range checks of its fields (a stage's
    section subclasses this and adds its optimisation settings)."""

    threads: int = 0  # torch CPU threads (0: torch's default)
    device: str = "auto"  # auto (CUDA when present, else CPU), cpu, cuda or cuda:N (dpldm.training.device)
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16: forward pass and loss under bfloat16 autocast

    def validate(self) -> None:
        check_train_settings(self)
