"""Seeded, deterministic subsets and train/validation splits of a labelled set.

The same (n, size, seed) always gives the same indices, on any machine: everything is drawn from one
``numpy.random.default_rng(seed)`` and returned sorted, so subsets keep the dataset's original order.
"""

from __future__ import annotations

import numpy as np

from dpldm.data.images import LabelledImages


def _count(n: int, holdout: float | int) -> int:
    """A fraction in (0, 1) of ``n``, or an absolute count, checked to leave both parts non-empty."""
    if isinstance(holdout, float) and not isinstance(holdout, bool):
        if not 0.0 < holdout < 1.0:
            raise ValueError(f"a held-out fraction must be in (0, 1), got {holdout}")
        count = int(round(holdout * n))
    elif isinstance(holdout, (int, np.integer)) and not isinstance(holdout, bool):
        count = int(holdout)
    else:
        raise TypeError(f"holdout must be a fraction (float) or a count (int), got {holdout!r}")
    if not 0 < count < n:
        raise ValueError(f"cannot hold out {count} of {n} items and keep both parts non-empty")
    return count


def sample_indices(n: int, limit: int, seed: int) -> np.ndarray:
    """Sorted int64 indices of a seeded random subset of ``min(limit, n)`` of ``range(n)``."""
    if limit >= n:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).permutation(n)[:limit]).astype(np.int64)


def split_indices(n: int, holdout: float | int, seed: int,
                  labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint (train, validation) index arrays covering ``range(n)``, both sorted int64.

    holdout: the validation part, as a fraction (0.1) or a count (5000).
    labels: (n,) class per item; if given the split is stratified, so each class is held out in proportion
        (largest-remainder rounding keeps the total exactly ``holdout``).
    """
    count = _count(n, holdout)
    rng = np.random.default_rng(seed)
    if labels is None:
        val = rng.choice(n, size=count, replace=False)
    else:
        labels = np.asarray(labels)
        if labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},), got {labels.shape}")
        _, inverse, sizes = np.unique(labels, return_inverse=True, return_counts=True)
        exact = sizes * (count / n)
        per_class = np.floor(exact).astype(np.int64)
        short = count - int(per_class.sum())
        per_class[np.argsort(-(exact - per_class), kind="stable")[:short]] += 1
        val = np.concatenate([rng.choice(np.flatnonzero(inverse == c), size=int(k), replace=False)
                              for c, k in enumerate(per_class)] + [np.zeros(0, np.int64)])
    mask = np.zeros(n, dtype=bool)
    mask[val] = True
    return np.flatnonzero(~mask).astype(np.int64), np.flatnonzero(mask).astype(np.int64)


def train_val_split(data: LabelledImages, holdout: float | int, seed: int,
                    stratify: bool = True) -> tuple[LabelledImages, LabelledImages]:
    """Split a labelled set into disjoint (train, validation) parts; see ``split_indices``."""
    train, val = split_indices(len(data), holdout, seed, data.labels if stratify else None)
    return data.subset(train), data.subset(val)
