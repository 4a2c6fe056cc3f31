"""Seeded train/validation splits."""

from __future__ import annotations

import numpy as np
import pytest

from dpldm.data import LabelledImages, sample_indices, split_indices, train_val_split

from .files import random_images


def _set(n: int, name: str, seed: int = 0, classes: int = 4) -> LabelledImages:
    return LabelledImages(random_images(n, 8, 8, seed=seed), np.arange(n) % classes,
                          tuple(f"c{i}" for i in range(classes)), name)


@pytest.mark.parametrize("holdout", [0.2, 25])
def test_split_is_deterministic_disjoint_and_covering(holdout):
    train, val = split_indices(100, holdout, seed=7)
    again = split_indices(100, holdout, seed=7)
    other = split_indices(100, holdout, seed=8)
    assert np.array_equal(train, again[0]) and np.array_equal(val, again[1])
    assert not np.array_equal(val, other[1])
    assert len(val) == (20 if holdout == 0.2 else 25)
    assert not set(train) & set(val) and sorted(set(train) | set(val)) == list(range(100))
    assert train.dtype == np.int64 and np.all(np.diff(val) > 0)


def test_stratified_split_holds_out_each_class_in_proportion():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 20)
    _, val = split_indices(100, 0.1, seed=0, labels=labels)
    assert np.bincount(labels[val]).tolist() == [5, 3, 2]
    _, val = split_indices(100, 7, seed=0, labels=labels)
    assert len(val) == 7


def test_bad_holdouts():
    for holdout in (0.0, 1.0, 0, 100):
        with pytest.raises(ValueError):
            split_indices(100, holdout, seed=0)
    with pytest.raises(TypeError):
        split_indices(100, "10%", seed=0)


def test_sample_indices_and_train_val_split():
    assert sample_indices(5, 10, 0).tolist() == [0, 1, 2, 3, 4]
    assert len(sample_indices(50, 10, 0)) == 10
    train, val = train_val_split(_set(40, "x"), 0.25, seed=1)
    assert len(train) == 30 and len(val) == 10
    assert np.bincount(val.labels).tolist() == [3, 3, 2, 2]  # 2.5 per class; ties go to the first classes

