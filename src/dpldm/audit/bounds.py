"""An empirical lower bound on epsilon from a membership test's outcomes (Jagielski et al. 2020; Nasr et al. 2021).

Notation:
    s_i         -> score of trial i (higher = the test says "member" / "canary present" more strongly)
    tau         -> threshold: the test says "member" iff s_i >= tau
    TP, FP      -> members / non-members the test calls members;  n_in, n_out -> members / non-members
    TPR, FPR    -> TP / n_in, FP / n_out
    alpha       -> the bound is wrong with probability at most alpha

For any (eps, delta)-DP mechanism and any test (Kairouz et al. 2015, Theorem 2.1)::

    TPR <= e^eps FPR + delta              (1)
    1 - FPR <= e^eps (1 - TPR) + delta    (2)

so, with TPR_lo a lower and FPR_hi an upper Clopper-Pearson bound (each at level 1 - alpha/2, both hold together
with probability >= 1 - alpha)::

    eps >= max(log((TPR_lo - delta) / FPR_hi), log((1 - FPR_hi - delta) / (1 - TPR_lo)), 0)   (3)

The threshold is a choice made after seeing scores; choosing it on the same trials that (3) is evaluated on would
overstate the bound. ``audit_epsilon`` therefore chooses it on one part of the trials (the *selection* trials, fixed
by a public coin before the scores exist) and evaluates (3) on the others; its bound is valid at level 1 - alpha.

Trials are counted as independent Bernoulli draws. That holds when each trial is its own training run (the
white-box check in ``dpldm.audit.whitebox``) and is the standard reading of a canary audit in one run, where each
canary's membership is an independent fair coin (Steinke, Nasr, Jagielski 2023 show a one-run bound of this
binomial form for DP mechanisms).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from scipy.stats import beta


def clopper_pearson(successes: int, trials: int, *, alpha: float, side: Literal["lower", "upper"]) -> float:
    """One-sided exact binomial bound on the success probability at confidence 1 - alpha (Clopper-Pearson 1934).

    lower: the largest p with P[Bin(trials, p) >= successes] <= alpha, i.e. Beta(alpha; k, n - k + 1); 0 if k = 0.
    upper: the smallest p with P[Bin(trials, p) <= successes] <= alpha, i.e. Beta(1 - alpha; k + 1, n - k); 1 if k = n.
    """
    if trials < 1 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials >= 1, got {successes} of {trials}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if side == "lower":
        return 0.0 if successes == 0 else float(beta.ppf(alpha, successes, trials - successes + 1))
    if side == "upper":
        return 1.0 if successes == trials else float(beta.ppf(1 - alpha, successes + 1, trials - successes))
    raise ValueError(f"side must be 'lower' or 'upper', got {side!r}")


def epsilon_from_rates(*, tpr: float, fpr: float, delta: float) -> float:
    """The smallest epsilon that (1) and (2) allow for a test with these rates at ``delta``: formula (3), >= 0."""
    eps = 0.0
    if tpr - delta > 0:  # (1)
        eps = max(eps, math.inf if fpr == 0 else math.log((tpr - delta) / fpr))
    if 1 - fpr - delta > 0:  # (2)
        eps = max(eps, math.inf if tpr == 1 else math.log((1 - fpr - delta) / (1 - tpr)))
    return eps


def threshold_counts(scores_in: np.ndarray, scores_out: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every distinct threshold worth trying and the test's counts there.

    returns: (thresholds [k] ascending, TP [k], FP [k]) where TP[j] = #{scores_in >= thresholds[j]} and
    FP[j] = #{scores_out >= thresholds[j]}; the thresholds are the distinct scores of both groups.
    """
    scores_in, scores_out = np.sort(np.asarray(scores_in, float)), np.sort(np.asarray(scores_out, float))
    thresholds = np.unique(np.concatenate([scores_in, scores_out]))
    tp = len(scores_in) - np.searchsorted(scores_in, thresholds, side="left")
    fp = len(scores_out) - np.searchsorted(scores_out, thresholds, side="left")
    return thresholds, tp, fp


def bound_at(tp: int, fp: int, n_in: int, n_out: int, *, delta: float, alpha: float) -> tuple[float, float, float]:
    """Formula (3) for one test's counts: (eps lower bound, TPR_lo, FPR_hi), each rate bound at level 1 - alpha/2."""
    tpr_lo = clopper_pearson(tp, n_in, alpha=alpha / 2, side="lower")
    fpr_hi = clopper_pearson(fp, n_out, alpha=alpha / 2, side="upper")
    return epsilon_from_rates(tpr=tpr_lo, fpr=fpr_hi, delta=delta), tpr_lo, fpr_hi


@dataclass(frozen=True)
class EpsilonBound:
    """An empirical epsilon lower bound and the test it came from."""

    epsilon: float  # eps >= this with probability >= 1 - alpha (0: the test shows nothing)
    threshold: float  # tau, chosen on the selection trials
    tp: int  # members of the evaluation trials called members
    fp: int  # non-members of the evaluation trials called members
    n_in: int  # members among the evaluation trials
    n_out: int  # non-members among the evaluation trials
    tpr_lower: float  # Clopper-Pearson lower bound on TPR (level 1 - alpha/2)
    fpr_upper: float  # Clopper-Pearson upper bound on FPR (level 1 - alpha/2)
    delta: float
    alpha: float
    # The bound a perfect test (TP = n_in, FP = 0) would give with these trials: the most this audit can show. A claim
    # above it cannot be refuted by this audit, whatever the model leaks.
    max_attainable: float

    def to_dict(self) -> dict:
        return asdict(self)


def best_threshold(scores_in: np.ndarray, scores_out: np.ndarray, *, delta: float, alpha: float) -> float:
    """The threshold whose formula-(3) bound is largest on these trials (ties: the lowest threshold)."""
    thresholds, tp, fp = threshold_counts(scores_in, scores_out)
    bounds = [bound_at(int(a), int(b), len(scores_in), len(scores_out), delta=delta, alpha=alpha)[0]
              for a, b in zip(tp, fp)]
    return float(thresholds[int(np.argmax(bounds))])


def audit_epsilon(scores: np.ndarray, member: np.ndarray, select: np.ndarray, *, delta: float,
                  alpha: float = 0.05) -> EpsilonBound:
    """Epsilon lower bound of the test "member iff score >= tau", tau chosen on the ``select`` trials.

    scores: [n] one score per trial; member: [n] bool, the truth; select: [n] bool, the trials used only to choose
    tau (fixed before the scores, e.g. by a public coin). The bound uses the other trials; it holds with
    probability >= 1 - alpha.
    """
    scores, member, select = np.asarray(scores, float), np.asarray(member, bool), np.asarray(select, bool)
    if not scores.shape == member.shape == select.shape or scores.ndim != 1:
        raise ValueError("scores, member and select must be 1-D arrays of the same length")
    evaluate = ~select
    groups = {"selection": select, "evaluation": evaluate}
    for name, part in groups.items():
        if not (member & part).any() or not (~member & part).any():
            raise ValueError(f"the {name} trials need at least one member and one non-member")
    tau = best_threshold(scores[select & member], scores[select & ~member], delta=delta, alpha=alpha)
    n_in, n_out = int((evaluate & member).sum()), int((evaluate & ~member).sum())
    tp = int((scores[evaluate & member] >= tau).sum())
    fp = int((scores[evaluate & ~member] >= tau).sum())
    eps, tpr_lo, fpr_hi = bound_at(tp, fp, n_in, n_out, delta=delta, alpha=alpha)
    return EpsilonBound(epsilon=eps, threshold=tau, tp=tp, fp=fp, n_in=n_in, n_out=n_out, tpr_lower=tpr_lo,
                        fpr_upper=fpr_hi, delta=delta, alpha=alpha,
                        max_attainable=bound_at(n_in, 0, n_in, n_out, delta=delta, alpha=alpha)[0])
