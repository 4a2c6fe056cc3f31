"""One training run over several processes: ``torchrun --nproc-per-node N -m dpldm finetune ...``.

torchrun starts N copies of the command and tells each its place through the environment (``WORLD_SIZE``,
``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``); several nodes join through torchrun's usual rendezvous.
A stage calls ``join`` once: with one process it returns None and nothing changes. Otherwise the process group
starts (gloo on the CPU, NCCL on GPUs, one GPU per local rank), and the stage lets rank 0 alone write files, log
and show progress. How DP-SGD shares a logical step between the ranks is in ``dpldm.dp.distributed``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch
import torch.distributed as dist

from dpldm.dp.distributed import Ranks
from dpldm.errors import DpldmError


def launched_world_size() -> int:
    """How many processes the launcher (torchrun) started for this run; 1 without one."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise DpldmError(f"WORLD_SIZE={os.environ['WORLD_SIZE']!r} is not a number of processes") from None


@contextlib.contextmanager
def join(device: torch.device) -> Iterator[tuple[Ranks | None, torch.device]]:
    """Join the launcher's process group for the duration of a stage: yields (ranks or None, this rank's device).

    A process group started here is shut down on the way out; one the caller started is left alone."""
    world = launched_world_size()
    if world <= 1:
        yield Ranks.current(), device
        return
    started = not dist.is_initialized()
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        if device.index >= torch.cuda.device_count():
            raise DpldmError(f"LOCAL_RANK {device.index}: only {torch.cuda.device_count()} CUDA device(s) here; "
                             f"start at most that many processes per node")
        torch.cuda.set_device(device)
    if started:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield Ranks.current(), device
    finally:
        if started and dist.is_initialized():
            dist.destroy_process_group()


def barrier(ranks: Ranks | None) -> None:
    """Wait for every rank (nothing with one process)."""
    if ranks is not None:
        dist.barrier()


@contextlib.contextmanager
def leader_first(ranks: Ranks | None) -> Iterator[None]:
    """Run the block on rank 0 first, then on the other ranks (e.g. rank 0 fills a cache the others then read)."""
    if ranks is not None and not ranks.leader:
        dist.barrier()
    yield
    if ranks is not None and ranks.leader:
        dist.barrier()
