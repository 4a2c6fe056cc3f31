"""Membership metrics against slow twins: AUC as the pairwise comparison count, TPR at FPR as a threshold loop."""

from __future__ import annotations

import numpy as np
import pytest

from dpldm.audit.membership import auc, auc_interval, membership_metrics, tpr_at_fpr


def auc_by_pairs(s_in, s_out) -> float:
    """Obviously correct: compare every member with every non-member, ties count one half."""
    wins = sum((a > b) + 0.5 * (a == b) for a in s_in for b in s_out)
    return wins / (len(s_in) * len(s_out))


def test_auc_matches_pairwise_count_with_ties():
    rng = np.random.default_rng(0)
    s_in, s_out = rng.integers(0, 10, 60).astype(float), rng.integers(2, 12, 45).astype(float)
    assert auc(s_in, s_out) == pytest.approx(auc_by_pairs(s_in, s_out), abs=1e-12)
    assert auc([1.0, 2.0], [0.0]) == 1.0 and auc([0.0], [1.0, 2.0]) == 0.0 and auc([1.0], [1.0]) == 0.5


def test_auc_interval_covers_and_collapses_on_perfect_separation():
    rng = np.random.default_rng(1)
    s_in, s_out = rng.normal(0.5, 1, 300), rng.normal(0, 1, 300)
    low, high = auc_interval(s_in, s_out)
    assert low < auc(s_in, s_out) < high and 0.5 < low and high - low < 0.15
    assert auc_interval([2.0, 3.0], [0.0, 1.0]) == (1.0, 1.0)


def tpr_at_fpr_by_loop(s_in, s_out, max_fpr):
    """Obviously correct: try every threshold (and one above all scores), keep the best allowed TPR."""
    best = 0.0
    for tau in sorted(set(s_in) | set(s_out)):
        fpr = np.mean(np.asarray(s_out) >= tau)
        if fpr <= max_fpr:
            best = max(best, np.mean(np.asarray(s_in) >= tau))
    return best


@pytest.mark.parametrize("max_fpr", [0.0, 0.001, 0.01, 0.1, 0.5])
def test_tpr_at_fpr_matches_a_threshold_loop(max_fpr):
    rng = np.random.default_rng(2)
    s_in, s_out = np.round(rng.normal(1, 1, 200), 1), np.round(rng.normal(0, 1, 300), 1)
    rate = tpr_at_fpr(s_in, s_out, max_fpr)
    assert rate.tpr == pytest.approx(tpr_at_fpr_by_loop(s_in, s_out, max_fpr))
    assert rate.fpr <= max_fpr
    assert rate.tpr_interval[0] <= rate.tpr <= rate.tpr_interval[1]


def test_tpr_at_fpr_when_a_non_member_has_the_top_score():
    rate = tpr_at_fpr([0.0, 0.5], [1.0, 0.2], 0.01)
    assert (rate.tpr, rate.fpr, rate.threshold) == (0.0, 0.0, None)


def test_membership_metrics_of_uninformative_scores():
    rng = np.random.default_rng(3)
    m = membership_metrics(rng.standard_normal(2000), rng.random(2000) < 0.5)
    assert m.auc_interval[0] < 0.5 < m.auc_interval[1]
    assert [r.max_fpr for r in m.rates] == [0.01, 0.001] and m.rates[0].tpr < 0.03
