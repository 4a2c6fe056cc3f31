"""k-NN precision/recall against a slow, obviously correct twin."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from dpldm.evaluation.precision_recall import precision_recall


def slow_precision_recall(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    def radii(x: np.ndarray) -> np.ndarray:
        return np.sort(cdist(x, x), axis=1)[:, k]  # column 0 is the point itself

    def share_inside(queries: np.ndarray, centres: np.ndarray) -> float:
        return float((cdist(queries, centres) <= radii(centres)[None, :]).any(axis=1).mean())

    return share_inside(fake, real), share_inside(real, fake)


def test_matches_slow_twin() -> None:
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(120, 5)), rng.normal(0.7, 1.3, size=(90, 5))
    fast = precision_recall(real, fake, k=4, batch_size=32)
    assert fast == pytest.approx(slow_precision_recall(real, fake, 4), abs=1e-12)


def test_identical_sets_are_perfect_and_far_sets_are_zero() -> None:
    x = np.random.default_rng(1).normal(size=(60, 4))
    assert precision_recall(x, x, k=3) == (1.0, 1.0)
    assert precision_recall(x, x + 100.0, k=3) == (0.0, 0.0)


def test_mode_collapse_keeps_precision_loses_recall() -> None:
    rng = np.random.default_rng(2)
    real = rng.normal(size=(300, 2))
    fake = rng.normal(size=(300, 2)) * 0.1  # all inside the real bulk, covering little of it
    precision, recall = precision_recall(real, fake, k=4)
    assert precision > 0.9 and recall < 0.5
