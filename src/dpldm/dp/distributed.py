"""DP-SGD over several processes (``torch.distributed``, started by ``torchrun``): the same mechanism as one process.

One logical step over R ranks:
1. rank 0 draws the Poisson sample of the whole private set (its secret stream) and sends the indices to all;
2. rank r takes every R-th index, from the r-th on, and sums its examples' clipped per-example gradients;
3. the partial sums are added over the ranks (all-reduce): the same clipped sum as one process computes;
4. rank 0 alone adds the Gaussian noise N(0, sigma^2 C^2 I) (its secret stream: once per step in total, never once
   per rank), and sends the noisy sum to all ranks, which then take the same optimizer step.
So the released update, and therefore the accountant's analysis, is that of the single-process path. What the
ranks exchange (indices, partial sums) never leaves the process group, the one trust domain of the run.

Hand-written on ``torch.distributed`` collectives rather than with ``DistributedDataParallel``: DDP averages
gradients inside backward, but DP-SGD must clip each example's gradient before any sum, and add noise once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor


@dataclass(frozen=True)
class Ranks:
    """This process's place in the process group: rank in [0, world_size)."""

    rank: int
    world_size: int

    @property
    def leader(self) -> bool:
        """Rank 0: it samples, draws the noise, and is the run's one writer of files."""
        return self.rank == 0

    @classmethod
    def current(cls) -> "Ranks | None":
        """The initialised default process group if it has more than one process, else None (one process)."""
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            return cls(dist.get_rank(), dist.get_world_size())
        return None


def _wire_device(like: Tensor) -> torch.device:
    """gloo reduces CPU tensors, NCCL CUDA ones: the device the group's backend exchanges tensors on."""
    return torch.device("cpu") if dist.get_backend() == "gloo" else like.device


def share_indices(indices: Tensor, ranks: Ranks) -> Tensor:
    """Rank 0's logical batch on every rank: ``indices`` ([b], int64) as rank 0 holds them."""
    wire = torch.device("cpu") if dist.get_backend() == "gloo" else torch.device("cuda", torch.cuda.current_device())
    size = torch.tensor([len(indices) if ranks.leader else 0], dtype=torch.int64, device=wire)
    dist.broadcast(size, src=0)
    shared = indices.to(wire, torch.int64) if ranks.leader else torch.empty(int(size), dtype=torch.int64,
                                                                            device=wire)
    dist.broadcast(shared, src=0)
    return shared.to(indices.device)


def my_part(indices: Tensor, ranks: Ranks) -> Tensor:
    """This rank's share of a logical batch: every ``world_size``-th index from the ``rank``-th on."""
    return indices[ranks.rank::ranks.world_size]


def _flat(tensors: Sequence[Tensor]) -> Tensor:
    return torch.cat([t.reshape(-1) for t in tensors]).to(_wire_device(tensors[0]))


def _unflat_into(flat: Tensor, tensors: Sequence[Tensor]) -> None:
    offset = 0
    for t in tensors:
        t.copy_(flat[offset:offset + t.numel()].view_as(t))
        offset += t.numel()


def sum_over_ranks(tensors: Sequence[Tensor]) -> None:
    """Replace each tensor, in place, by its sum over all ranks (one all-reduce of the flattened tensors)."""
    flat = _flat(tensors)
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    _unflat_into(flat, tensors)


def from_leader(tensors: Sequence[Tensor]) -> None:
    """Replace each tensor, in place, by rank 0's (one broadcast of the flattened tensors)."""
    flat = _flat(tensors)
    dist.broadcast(flat, src=0)
    _unflat_into(flat, tensors)


def gather_objects(obj: object, ranks: Ranks) -> list:
    """Every rank's ``obj`` (picklable), in rank order, on every rank."""
    out: list = [None] * ranks.world_size
    dist.all_gather_object(out, obj)
    return out
