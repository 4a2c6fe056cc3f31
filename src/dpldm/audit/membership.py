"""How well a membership score separates members from non-members: AUC with a bootstrap interval, and the true
positive rate at a low false positive rate (Carlini et al. 2022, "Membership Inference Attacks From First
Principles": a good attack is one that is right about a few records with confidence, not on average).

Convention: higher score = "member". Ties count one half in the AUC, as in the Mann-Whitney U statistic.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import rankdata

from dpldm.audit.bounds import clopper_pearson, threshold_counts


def auc(scores_in: np.ndarray, scores_out: np.ndarray) -> float:
    """P[s_member > s_non-member] + P[equal] / 2, from ranks (Mann-Whitney U / (n_in n_out)); O(n log n)."""
    scores_in, scores_out = np.asarray(scores_in, float), np.asarray(scores_out, float)
    n_in, n_out = len(scores_in), len(scores_out)
    if n_in == 0 or n_out == 0:
        raise ValueError("the AUC needs at least one member and one non-member")
    ranks = rankdata(np.concatenate([scores_in, scores_out]))  # average ranks for ties
    return float((ranks[:n_in].sum() - n_in * (n_in + 1) / 2) / (n_in * n_out))


def auc_interval(scores_in: np.ndarray, scores_out: np.ndarray, *, alpha: float = 0.05, resamples: int = 1000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval (level 1 - alpha) of the AUC, members and non-members resampled separately
    (their numbers are fixed by the audit's design). Bootstrap rather than DeLong's normal approximation because it
    needs no asymptotics at the AUCs near 0.5 and 1 that audits produce."""
    rng = np.random.default_rng(seed)
    scores_in, scores_out = np.asarray(scores_in, float), np.asarray(scores_out, float)
    values = [auc(rng.choice(scores_in, len(scores_in)), rng.choice(scores_out, len(scores_out)))
              for _ in range(resamples)]
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


@dataclass(frozen=True)
class RateAtFPR:
    """The test "member iff score >= tau" at the lowest tau whose false positive rate is at most ``max_fpr``."""

    max_fpr: float  # the FPR asked for
    fpr: float  # the FPR reached (<= max_fpr; with n_out non-members it moves in steps of 1 / n_out)
    tpr: float
    tpr_interval: tuple[float, float]  # two-sided Clopper-Pearson at level 1 - alpha, for this threshold
    threshold: float | None  # None: only a threshold above every score (TPR 0) keeps the FPR this low


def tpr_at_fpr(scores_in: np.ndarray, scores_out: np.ndarray, max_fpr: float, *, alpha: float = 0.05) -> RateAtFPR:
    """The largest TPR over thresholds whose empirical FPR is at most ``max_fpr`` (at least FPR 0: a threshold
    above every non-member's score). The interval is exact for the TPR at that threshold; it ignores that the
    threshold was set on these non-members, which moves the FPR, not the TPR."""
    thresholds, tp, fp = threshold_counts(scores_in, scores_out)
    n_in, n_out = len(scores_in), len(scores_out)
    allowed = fp <= max_fpr * n_out
    if allowed.any():
        j = int(np.flatnonzero(allowed)[0])  # thresholds ascend, so the first allowed one has the largest TP
        threshold, hits, false = float(thresholds[j]), int(tp[j]), int(fp[j])
    else:  # no score threshold gets there: the top score is a non-member's
        threshold, hits, false = None, 0, 0
    interval = (clopper_pearson(hits, n_in, alpha=alpha / 2, side="lower"),
                clopper_pearson(hits, n_in, alpha=alpha / 2, side="upper"))
    return RateAtFPR(max_fpr=max_fpr, fpr=false / n_out, tpr=hits / n_in, tpr_interval=interval,
                     threshold=threshold)


@dataclass(frozen=True)
class MembershipMetrics:
    """A membership test's quality on one group of records (e.g. the private records, or the canaries)."""

    n_members: int
    n_non_members: int
    auc: float
    auc_interval: tuple[float, float]  # bootstrap, level 1 - alpha
    rates: tuple[RateAtFPR, ...]  # at FPR 1% and 0.1% by default

    def to_dict(self) -> dict:
        return asdict(self)


def membership_metrics(scores: np.ndarray, member: np.ndarray, *, fprs: tuple[float, ...] = (0.01, 0.001),
                       alpha: float = 0.05, seed: int = 0) -> MembershipMetrics:
    """AUC [interval] and TPR at each FPR in ``fprs`` of the scores of members (``member`` True) vs the rest."""
    scores, member = np.asarray(scores, float), np.asarray(member, bool)
    s_in, s_out = scores[member], scores[~member]
    return MembershipMetrics(n_members=len(s_in), n_non_members=len(s_out), auc=auc(s_in, s_out),
                             auc_interval=auc_interval(s_in, s_out, alpha=alpha, seed=seed),
                             rates=tuple(tpr_at_fpr(s_in, s_out, f, alpha=alpha) for f in fprs))
