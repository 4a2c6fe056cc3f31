"""Private validation split and Laplace report-noisy-max epoch selection."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from dpldm.evaluation.selection import (SelectionPolicy, laplace_noise, noisy_argmax, private_validation_split,
                                        validation_size)


@pytest.mark.parametrize("n, size", [(60_000, 5_000), (10_000, 833), (1_200, 100)])
def test_split_sizes_follow_dpimagebench(n: int, size: int) -> None:
    train, val = private_validation_split(n, seed=0)
    assert len(val) == size == validation_size(n) and len(train) == n - size


def test_split_is_deterministic_disjoint_and_covering() -> None:
    train, val = private_validation_split(1_000, seed=7)
    again_train, again_val = private_validation_split(1_000, seed=7)
    assert np.array_equal(train, again_train) and np.array_equal(val, again_val)
    assert np.intersect1d(train, val).size == 0
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(1_000))
    assert not np.array_equal(val, private_validation_split(1_000, seed=8)[1])


def test_noisy_argmax_is_seeded() -> None:
    counts = np.array([100, 101, 99, 101, 100])
    picks = [noisy_argmax(counts, epsilon=0.5, rng=np.random.default_rng(s)) for s in range(20)]
    again = [noisy_argmax(counts, epsilon=0.5, rng=np.random.default_rng(s)) for s in range(20)]
    assert picks == again and len(set(picks)) > 1


def test_noise_scale_is_one_over_epsilon() -> None:
    epsilon = 0.25
    draws = laplace_noise(20_000, epsilon=epsilon, rng=np.random.default_rng(0))
    # E|Z| = b for Laplace(0, b): b = 1/epsilon = 4.
    assert np.abs(draws).mean() == pytest.approx(1 / epsilon, rel=0.03)
    assert stats.kstest(draws, stats.laplace(scale=1 / epsilon).cdf).pvalue > 1e-3
    assert stats.kstest(draws, stats.laplace(scale=2 / epsilon).cdf).pvalue < 1e-6


def test_infinite_epsilon_is_the_plain_argmax() -> None:
    assert noisy_argmax(np.array([3, 9, 9, 1]), epsilon=float("inf"), rng=np.random.default_rng(0)) == 1


def test_policy_states_its_privacy_cost() -> None:
    private = SelectionPolicy("private-val", 1.0, 5_000).state_dict()
    assert "1-DP" in private["statement"] and "disjoint" in private["statement"]
    assert "report-noisy-max" in private["mechanism"]
    assert "NOT differentially private" in SelectionPolicy("private-val", float("inf"), 10).statement
    assert SelectionPolicy("private-val", float("inf"), 10).state_dict()["epsilon"] == "inf"
    assert "no private data" in SelectionPolicy("synthetic-val", 1.0, 10).statement
