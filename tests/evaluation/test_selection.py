"""Private validation split and the one Laplace report-noisy-max selection over all candidates."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from dpldm.data.validation_split import SPLIT_SCHEME, private_validation_split, split_facts, validation_size
from dpldm.evaluation.selection import SelectionPolicy, laplace_noise, noisy_argmax, select_candidate, selection_rng


def records(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 6, 6), dtype=np.uint8), rng.integers(0, 10, n)


def test_split_holds_out_about_the_dpimagebench_fraction() -> None:
    images, labels = records(12_000)
    train, val = private_validation_split(images, labels, seed=0)
    # Binomial(12,000, 1/12): mean 1,000, std 30.
    assert abs(len(val) - validation_size(12_000)) < 5 * 30 and len(train) + len(val) == 12_000


def test_split_is_deterministic_disjoint_and_covering() -> None:
    images, labels = records(1_000)
    train, val = private_validation_split(images, labels, seed=7)
    again_train, again_val = private_validation_split(images, labels, seed=7)
    assert np.array_equal(train, again_train) and np.array_equal(val, again_val)
    assert np.intersect1d(train, val).size == 0
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(1_000))
    assert not np.array_equal(val, private_validation_split(images, labels, seed=8)[1])


def test_adding_or_removing_a_record_moves_no_other_record() -> None:
    """The partition must be per record for parallel composition (an index permutation fails this)."""
    images, labels = records(500)
    _, val = private_validation_split(images, labels, seed=3)
    in_val = set(map(bytes, images[val]))
    # Remove record 17, add a new record at the front: every old record keeps its side.
    new_image, new_label = records(1, seed=99)
    images2 = np.concatenate([new_image, np.delete(images, 17, axis=0)])
    labels2 = np.concatenate([new_label, np.delete(labels, 17)])
    _, val2 = private_validation_split(images2, labels2, seed=3)
    in_val2 = set(map(bytes, images2[val2]))
    old = set(map(bytes, np.delete(images, 17, axis=0)))
    assert in_val & old == in_val2 & old


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


def test_select_candidate_equals_a_loop_over_runs_and_epochs() -> None:
    """The slow twin: the same noise, drawn in run-then-epoch order, added candidate by candidate."""
    rng = np.random.default_rng(0)
    for trial in range(50):
        correct = [rng.integers(0, 30, rng.integers(1, 6)) for _ in range(rng.integers(1, 5))]
        picked = select_candidate(correct, epsilon=0.7, rng=np.random.default_rng(trial))
        noise = iter(laplace_noise(sum(map(len, correct)), epsilon=0.7, rng=np.random.default_rng(trial)))
        best, where = -np.inf, None
        for r, counts in enumerate(correct):
            for e, c in enumerate(counts):
                value = c + next(noise)
                if value > best:
                    best, where = value, (r, e)
        assert picked == where


def test_select_candidate_without_noise_is_the_global_argmax() -> None:
    correct = [np.array([3, 5]), np.array([4, 9, 2]), np.array([8])]
    assert select_candidate(correct, epsilon=float("inf"), rng=np.random.default_rng(0)) == (1, 1)


def test_selection_rng_is_secret_by_default_and_reproducible_when_seeded() -> None:
    assert not np.array_equal(selection_rng(None).laplace(size=8), selection_rng(None).laplace(size=8))
    np.testing.assert_array_equal(selection_rng(3).laplace(size=8), selection_rng(3).laplace(size=8))


def test_split_facts_name_the_scheme_and_key() -> None:
    assert split_facts(4) == {"scheme": SPLIT_SCHEME, "key": 4, "fraction": 5_000 / 60_000}


def test_policy_states_its_privacy_cost() -> None:
    private = SelectionPolicy("private-val", 1.0, 5_000, candidates=60, split_key=2).state_dict()
    assert "1-DP" in private["statement"] and "disjoint" in private["statement"]
    assert "of 60 candidates" in private["statement"] and "split key 2" in private["statement"]
    assert "secret OS entropy" in private["statement"] and not private["seeded"]
    assert "report-noisy-max" in private["mechanism"] and private["split_key"] == 2
    seeded = SelectionPolicy("private-val", 1.0, 5_000, candidates=60, split_key=2, selection_seed=5)
    assert "NOT differentially private" in seeded.statement and seeded.state_dict()["seeded"]
    assert "NOT differentially private" in SelectionPolicy("private-val", float("inf"), 10, 3).statement
    assert SelectionPolicy("private-val", float("inf"), 10, 3).state_dict()["epsilon"] == "inf"
    assert "no privacy cost" in SelectionPolicy("synthetic-val", 1.0, 10, 3).statement
