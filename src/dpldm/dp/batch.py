"""Batches as the DP engine sees them: a dict or tuple of tensors sharing their first (row) dimension."""

from __future__ import annotations

from typing import Callable, Union

import torch
from torch import Tensor

from dpldm.errors import DpldmError

Batch = Union[dict[str, Tensor], tuple[Tensor, ...]]  # every tensor is [rows, ...]


def _tensors(batch: Batch) -> list[Tensor]:
    if isinstance(batch, dict):
        return list(batch.values())
    if isinstance(batch, tuple):
        return list(batch)
    raise DpldmError(f"a batch must be a dict or a tuple of tensors, got {type(batch).__name__}")


def num_rows(batch: Batch) -> int:
    """The shared first dimension of every tensor in ``batch``."""
    tensors = _tensors(batch)
    if not tensors or not all(isinstance(t, Tensor) and t.dim() >= 1 for t in tensors):
        raise DpldmError("a batch must hold at least one tensor, each with a row dimension")
    sizes = {len(t) for t in tensors}
    if len(sizes) != 1:
        raise DpldmError(f"the tensors of a batch disagree on the number of rows: {sorted(sizes)}")
    return sizes.pop()


def _map(batch: Batch, fn: Callable[[Tensor], Tensor]) -> Batch:
    if isinstance(batch, dict):
        return {key: fn(value) for key, value in batch.items()}
    return tuple(fn(value) for value in batch)


def select_rows(data: Batch, indices: Tensor, device: torch.device) -> Batch:
    """Rows ``indices`` ([b], long) of every tensor of ``data``, on ``device``, contiguous.

    Contiguous because opacus's per-example conv gradients on a channels-last input segfaulted in torch's backward
    (seen with attention trained in the UNet's down blocks on freshly encoded latents)."""
    return _map(data, lambda t: t[indices.to(t.device)].to(device).contiguous())


def repeat_rows(batch: Batch, times: int) -> Batch:
    """Each row repeated ``times`` times, example-major: row i * times + k is copy k of row i."""
    if times == 1:
        return batch
    return _map(batch, lambda t: t.repeat_interleave(times, dim=0))
