"""How close a step comes to this CPU's peak: FLOPs counted by torch, and the peak measured by a large sgemm.

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode``, which counts the matrix products and convolutions
(forward, backward and the per-example gradient products of the DP hooks alike) and nothing else: the memory-bound
work (norms, activations, softmax, copies) costs time but no counted FLOPs, which is why a small model's share of
peak is low. The peak is measured, not looked up: the machines this runs on vary (an AVX2 EPYC does about 107
GFLOP/s in sgemm on 2 cores; an AVX-512/AMX Xeon about 300-350).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs (multiply and add counted apart) that one call of ``fn`` runs in torch's matrix products and convs."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def peak_flops(*, size: int = 2048, repeats: int = 5, dtype: torch.dtype = torch.float32) -> float:
    """FLOP/s of the best of ``repeats`` (size x size) @ (size x size) products at torch's current thread count."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    torch.mm(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best


def efficiency(flops: int, seconds: float, peak: float) -> dict[str, float]:
    """GFLOP per call, achieved GFLOP/s and the share of ``peak`` for a call of ``flops`` taking ``seconds``."""
    achieved = flops / seconds
    return {"gflop": round(flops / 1e9, 3), "gflop_per_s": round(achieved / 1e9, 2),
            "share_of_peak": round(achieved / peak, 3)}
