"""The Clopper-Pearson epsilon lower bound against slow twins, known values and mechanisms of known epsilon."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom

from dpldm.audit.bounds import (audit_epsilon, bound_at, clopper_pearson, epsilon_from_rates,
                                threshold_counts)


def clopper_pearson_by_bisection(k: int, n: int, alpha: float, side: str) -> float:
    """Obviously correct: bisect on p for the binomial tail the definition names."""
    if side == "lower":
        if k == 0:
            return 0.0
        tail = lambda p: binom.sf(k - 1, n, p) - alpha  # P[X >= k] increases with p
    else:
        if k == n:
            return 1.0
        tail = lambda p: alpha - binom.cdf(k, n, p)  # P[X <= k] decreases with p
    lo, hi = 0.0, 1.0
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if tail(mid) > 0 else (mid, hi)
    return (lo + hi) / 2


@pytest.mark.parametrize("k,n", [(0, 10), (1, 10), (5, 10), (10, 10), (3, 250), (249, 250), (0, 1), (1, 1)])
@pytest.mark.parametrize("side", ["lower", "upper"])
def test_clopper_pearson_matches_bisection_on_the_binomial_tail(k, n, side):
    assert clopper_pearson(k, n, alpha=0.025, side=side) == pytest.approx(
        clopper_pearson_by_bisection(k, n, 0.025, side), abs=1e-9)


def test_clopper_pearson_known_values():
    # Zero successes of n: the upper bound solves (1 - p)^n = alpha ("rule of three": about 3 / n at 95%).
    assert clopper_pearson(0, 100, alpha=0.05, side="upper") == pytest.approx(1 - 0.05 ** (1 / 100))
    assert clopper_pearson(100, 100, alpha=0.05, side="lower") == pytest.approx(0.05 ** (1 / 100))
    # Two-sided 95% interval for 5 of 10, as tabulated (e.g. R's binom.test): [0.187, 0.813].
    assert clopper_pearson(5, 10, alpha=0.025, side="lower") == pytest.approx(0.18709, abs=1e-5)
    assert clopper_pearson(5, 10, alpha=0.025, side="upper") == pytest.approx(0.81291, abs=1e-5)


def test_epsilon_from_rates_known_values():
    assert epsilon_from_rates(tpr=0.5, fpr=0.05, delta=0.0) == pytest.approx(math.log(10))
    assert epsilon_from_rates(tpr=0.99, fpr=0.5, delta=0.0) == pytest.approx(math.log(0.5 / 0.01))  # formula (2)
    assert epsilon_from_rates(tpr=0.3, fpr=0.3, delta=0.0) == 0.0
    assert epsilon_from_rates(tpr=0.2, fpr=0.4, delta=0.0) == 0.0  # a worse-than-chance test shows nothing
    assert epsilon_from_rates(tpr=0.5, fpr=0.05, delta=0.1) == pytest.approx(math.log(8))
    assert epsilon_from_rates(tpr=0.5, fpr=0.0, delta=0.0) == math.inf


def test_threshold_counts_match_a_loop():
    rng = np.random.default_rng(0)
    s_in, s_out = rng.integers(0, 20, 50).astype(float), rng.integers(5, 25, 40).astype(float)  # many ties
    thresholds, tp, fp = threshold_counts(s_in, s_out)
    assert list(thresholds) == sorted(set(s_in) | set(s_out))
    for tau, a, b in zip(thresholds, tp, fp):
        assert a == sum(s >= tau for s in s_in) and b == sum(s >= tau for s in s_out)


def randomized_response(n: int, eps: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A mechanism of exactly known epsilon: it reports membership truthfully with probability e^eps / (1 + e^eps)."""
    member = rng.random(n) < 0.5
    truthful = rng.random(n) < math.exp(eps) / (1 + math.exp(eps))
    scores = np.where(truthful, member, ~member).astype(float)
    return scores, member, rng.random(n) < 0.5


def test_bound_approaches_but_never_exceeds_a_known_epsilon():
    rng = np.random.default_rng(1)
    for eps in (0.5, 1.0, 2.0):
        scores, member, select = randomized_response(40_000, eps, rng)
        bound = audit_epsilon(scores, member, select, delta=1e-5)
        assert 0.85 * eps < bound.epsilon <= eps


def test_bound_is_zero_for_identical_score_distributions():
    # A 0-DP "mechanism": the bound may be positive with probability at most alpha (5%) per repetition.
    rng = np.random.default_rng(2)
    bounds = [audit_epsilon(rng.standard_normal(400), rng.random(400) < 0.5, rng.random(400) < 0.5,
                            delta=1e-5).epsilon for _ in range(40)]
    assert sum(b > 0 for b in bounds) <= 6 and max(bounds) < 0.5


def test_bound_uses_only_the_evaluation_trials():
    # Perfect separation on 16 + 16 evaluation trials: the bound is formula (3) at TP 16/16, FP 0/16.
    member = np.array([True, False] * 32)
    select = np.arange(64) < 32
    bound = audit_epsilon(member.astype(float), member, select, delta=1e-5)
    assert (bound.tp, bound.fp, bound.n_in, bound.n_out) == (16, 0, 16, 16)
    assert bound.epsilon == pytest.approx(bound_at(16, 0, 16, 16, delta=1e-5, alpha=0.05)[0])
    assert bound.epsilon == pytest.approx(math.log((0.025 ** (1 / 16) - 1e-5) / (1 - 0.025 ** (1 / 16))))
    assert bound.max_attainable == bound.epsilon  # a perfect test shows the most these trials can
    with pytest.raises(ValueError, match="evaluation"):
        audit_epsilon(member.astype(float), member, np.ones(64, bool), delta=1e-5)
