"""Epsilon of DP-SGD from its noise multiplier, and the noise multiplier for a target epsilon.

The mechanism accounted for is the one ``dpldm.dp`` runs: per logical step, a Poisson sample of the data (each
example included independently with probability q), per-example clipping to norm C, and Gaussian noise of std
sigma * C on the sum. Neighbouring datasets differ by adding or removing one example. All privacy maths comes
from libraries:

    "rdp": opacus ``RDPAccountant`` (Renyi DP of the subsampled Gaussian, Mironov et al. 2019);
    "prv": opacus ``PRVAccountant`` (numerical composition of privacy random variables, Gopi et al. 2021),
           its upper bound, as DP-LDM's official code uses;
    "pld": dp_accounting ``PLDAccountant`` (privacy loss distributions, pessimistic estimate).

Map: sigma -> ``noise_multiplier``, q -> ``sample_rate``, T -> ``steps``.
"""

from __future__ import annotations

import functools
import importlib.metadata
import math
import numbers
import typing
import warnings
from typing import Literal

from dpldm.errors import DpldmError

Accountant = Literal["rdp", "prv", "pld"]
ACCOUNTANTS: tuple[str, ...] = typing.get_args(Accountant)
Mechanism = tuple[float, float, int]
"""(noise_multiplier, sample_rate, steps): ``steps`` Poisson-sampled Gaussian steps. A Gaussian mechanism of
L2-sensitivity 1 applied once to the whole dataset (a noisy histogram, ``dpldm.dp.histogram``) is (sigma, 1.0, 1)."""

# Calibration searches sigma in [_SIGMA_MIN, _SIGMA_MAX]; outside it no target is reached in practice.
_SIGMA_MIN = 1e-3
_SIGMA_MAX = 1e6
# Opacus's PRV accountant builds a grid that grows without bound as sigma falls, past this machine's memory below
# this floor (the measurements: BENCHMARKS.md, "Numbers behind limits in the code").
_PRV_SIGMA_MIN = 0.1


class AccountingFailure(DpldmError):
    """The accountant's numerics failed for these inputs (e.g. a tiny noise multiplier)."""


def check_accountant(accountant: str) -> None:
    if accountant not in ACCOUNTANTS:
        raise DpldmError(f"unknown accountant '{accountant}'; choose one of {', '.join(ACCOUNTANTS)}")


def check_sample_rate(sample_rate: float) -> None:
    if not 0.0 < sample_rate <= 1.0:
        raise DpldmError(f"sample rate must be in (0, 1] (expected batch size / dataset size), got {sample_rate}")


def check_delta(delta: float) -> None:
    if not 0.0 < delta < 1.0:
        raise DpldmError(f"delta must be in (0, 1), typically below 1/dataset size, got {delta}")


def check_noise_multiplier(noise_multiplier: float) -> None:
    if not (noise_multiplier > 0.0 and math.isfinite(noise_multiplier)):
        raise DpldmError(f"noise multiplier must be a positive number (noise std / clipping norm), "
                         f"got {noise_multiplier}")


def check_steps(steps: int) -> None:
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps <= 0:
        raise DpldmError(f"steps must be a positive whole number of logical (optimizer) steps, got {steps}")


def check_target_epsilon(target_epsilon: float) -> None:
    if not (target_epsilon > 0.0 and math.isfinite(target_epsilon)):
        raise DpldmError(f"target epsilon must be a positive number, got {target_epsilon}")


def steps_for_epochs(*, epochs: float, sample_rate: float) -> int:
    """Logical steps for ``epochs`` expected passes over the data: ceil(epochs / q), at least 1.

    Rounded to 6 decimals first, so that 10 epochs at q = 2000/60000 is 300 steps, not 301.
    """
    check_sample_rate(sample_rate)
    if not (epochs > 0.0 and math.isfinite(epochs)):
        raise DpldmError(f"epochs must be a positive number, got {epochs}")
    return max(1, math.ceil(round(epochs / sample_rate, 6)))


def epsilon(*, noise_multiplier: float, sample_rate: float, steps: int, delta: float,
            accountant: Accountant) -> float:
    """Epsilon after ``steps`` Poisson-sampled Gaussian steps, for the given delta (add/remove-one neighbours)."""
    check_accountant(accountant)
    check_noise_multiplier(noise_multiplier)
    check_sample_rate(sample_rate)
    check_steps(steps)
    check_delta(delta)
    value = _epsilon(accountant, float(noise_multiplier), float(sample_rate), int(steps), float(delta))
    if value < 0:
        # Epsilon is never negative; opacus's PRV returns one when delta is so large that the guarantee holds
        # trivially (an example: BENCHMARKS.md, "Numbers behind limits in the code"). Never report such a number.
        raise AccountingFailure(f"the {accountant} accountant returned a negative epsilon, which means nothing, at "
                                f"delta {delta:g}; use a delta far below 1/dataset size")
    return value


@functools.lru_cache(maxsize=1024)
def _epsilon(accountant: str, noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> float:
    """The library call; cached because PLD takes about a second and the value is a pure function of its inputs."""
    if accountant == "prv" and noise_multiplier < _PRV_SIGMA_MIN:
        raise AccountingFailure(f"the prv accountant needs tens of GB below sigma={_PRV_SIGMA_MIN} (got "
                                f"{noise_multiplier}); use the rdp or pld accountant")
    try:
        if accountant == "pld":
            value = _pld_epsilon(noise_multiplier, sample_rate, steps, delta)
        else:
            value = _opacus_epsilon(accountant, noise_multiplier, sample_rate, steps, delta)
    except (ArithmeticError, MemoryError, RuntimeError, ValueError) as err:
        raise AccountingFailure(f"the {accountant} accountant cannot evaluate sigma={noise_multiplier}, "
                                f"q={sample_rate}, steps={steps} ({type(err).__name__}); try a larger noise "
                                f"multiplier or the rdp accountant") from None
    if math.isnan(value):
        raise AccountingFailure(f"the {accountant} accountant returned NaN for sigma={noise_multiplier}, "
                                f"q={sample_rate}, steps={steps}")
    return float(value)


def _opacus_epsilon(accountant: str, noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> float:
    from opacus.accountants import PRVAccountant, RDPAccountant

    tracker = RDPAccountant() if accountant == "rdp" else PRVAccountant()
    # The accountant's own state format: one (sigma, q, number of steps) entry of its history.
    tracker.load_state_dict({"history": [(noise_multiplier, sample_rate, steps)], "mechanism": tracker.mechanism()})
    with warnings.catch_warnings():
        # PRV at q = 1 (a Gaussian mechanism on the whole data) takes log(0) on a branch it then discards.
        warnings.filterwarnings("ignore", "divide by zero encountered in log", RuntimeWarning)
        return tracker.get_epsilon(delta=delta)


def _pld_epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> float:
    try:
        import dp_accounting
    except ImportError:
        raise DpldmError("the pld accountant needs dp-accounting: pip install dp-accounting==0.6.0 "
                         "(or use the prv accountant)") from None
    tracker = dp_accounting.pld.PLDAccountant(
        neighboring_relation=dp_accounting.NeighboringRelation.ADD_OR_REMOVE_ONE)
    step = dp_accounting.PoissonSampledDpEvent(sample_rate, dp_accounting.GaussianDpEvent(noise_multiplier))
    tracker.compose(dp_accounting.SelfComposedDpEvent(step, steps))
    return tracker.get_epsilon(delta)


def composed_epsilon(history: list[tuple[float, float, int]], *, delta: float, accountant: Accountant) -> float:
    """Epsilon of several DP-SGD runs on the same data, composed inside ONE accountant: ``history`` holds one
    (noise_multiplier, sample_rate, steps) per run. Tighter than adding the runs' epsilons; with one entry it is
    ``epsilon`` of that entry."""
    check_accountant(accountant)
    check_delta(delta)
    if not history:
        return 0.0
    for sigma, q, steps in history:
        check_noise_multiplier(sigma)
        check_sample_rate(q)
        check_steps(steps)
    entries = tuple((float(sigma), float(q), int(steps)) for sigma, q, steps in history)
    if len(entries) == 1:
        return epsilon(noise_multiplier=entries[0][0], sample_rate=entries[0][1], steps=entries[0][2], delta=delta,
                       accountant=accountant)
    return _composed(entries, float(delta), accountant)


@functools.lru_cache(maxsize=1024)
def _composed(entries: tuple[Mechanism, ...], delta: float, accountant: str) -> float:
    """The library call of ``composed_epsilon``, cached as ``_epsilon`` (a run's ledger asks it at every log line)."""
    if accountant == "prv" and min(sigma for sigma, _, _ in entries) < _PRV_SIGMA_MIN:
        raise AccountingFailure(f"the prv accountant needs tens of GB below sigma={_PRV_SIGMA_MIN}; use the rdp or "
                                f"pld accountant")
    try:
        if accountant == "pld":
            import dp_accounting

            tracker = dp_accounting.pld.PLDAccountant(
                neighboring_relation=dp_accounting.NeighboringRelation.ADD_OR_REMOVE_ONE)
            for sigma, q, steps in entries:
                step = dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma))
                tracker.compose(dp_accounting.SelfComposedDpEvent(step, steps))
            value = tracker.get_epsilon(delta)
        else:
            from opacus.accountants import PRVAccountant, RDPAccountant

            opacus_tracker = RDPAccountant() if accountant == "rdp" else PRVAccountant()
            opacus_tracker.load_state_dict({"history": list(entries), "mechanism": opacus_tracker.mechanism()})
            with warnings.catch_warnings():
                # PRV at q = 1 (a Gaussian mechanism on the whole data) takes log(0) on a branch it then discards.
                warnings.filterwarnings("ignore", "divide by zero encountered in log", RuntimeWarning)
                value = opacus_tracker.get_epsilon(delta=delta)
    except (ArithmeticError, MemoryError, RuntimeError, ValueError) as err:
        raise AccountingFailure(f"the {accountant} accountant cannot compose {len(entries)} runs "
                                f"({type(err).__name__}); try the rdp accountant") from None
    if math.isnan(value) or value < 0:
        raise AccountingFailure(f"the {accountant} accountant returned {value} for {len(entries)} composed runs")
    return float(value)


def calibrate_noise(*, target_epsilon: float, sample_rate: float, steps: int, delta: float,
                    accountant: Accountant, tol: float = 1e-4, prior: tuple[Mechanism, ...] = ()) -> float:
    """The smallest noise multiplier (to within ``tol``) whose epsilon is at most ``target_epsilon``.

    ``prior``: mechanisms already run on the same data (e.g. a DP choice of public classes); the target is then
    for all of them composed with the run inside the one accountant (``composed_epsilon``).

    Bisection on the library's own epsilon. Invariant: ``high`` has been evaluated and is feasible
    (epsilon <= target), so the returned sigma is guaranteed to meet the target under this accountant, even where
    the accountant's numerical error makes epsilon slightly non-monotone in sigma. A sigma the accountant cannot
    evaluate counts as infeasible. For "prv" and "pld" the search starts from the RDP answer, which is cheap and
    close, so those slower accountants are never asked about far-off sigmas.
    """
    check_accountant(accountant)
    check_target_epsilon(target_epsilon)
    check_sample_rate(sample_rate)
    check_steps(steps)
    check_delta(delta)
    if not tol > 0.0:
        raise DpldmError(f"calibration tolerance must be positive, got {tol}")

    prior = tuple((float(s), float(q), int(t)) for s, q, t in prior)
    if prior and composed_epsilon(list(prior), delta=delta, accountant=accountant) >= target_epsilon:
        raise DpldmError(f"the mechanisms run before on this data already spend epsilon "
                         f"{composed_epsilon(list(prior), delta=delta, accountant=accountant):.4g} >= the target "
                         f"{target_epsilon} at delta {delta:g}; raise the target")

    def feasible(sigma: float) -> bool:
        try:
            if prior:
                return composed_epsilon([*prior, (sigma, sample_rate, steps)], delta=delta,
                                        accountant=accountant) <= target_epsilon
            return _epsilon(accountant, sigma, float(sample_rate), int(steps), float(delta)) <= target_epsilon
        except AccountingFailure:
            return False

    # Bracket: low infeasible (or below the floor), high feasible. RDP cannot certify very small epsilons; then the
    # slower accountants start from 1 too.
    high = 1.0
    if accountant != "rdp":
        try:
            high = calibrate_noise(target_epsilon=target_epsilon, sample_rate=sample_rate, steps=steps, delta=delta,
                                   accountant="rdp", tol=tol, prior=prior)
        except DpldmError:
            pass
    while not feasible(high):
        high *= 2.0
        if high > _SIGMA_MAX:
            raise DpldmError(f"no noise multiplier up to {_SIGMA_MAX:g} reaches epsilon {target_epsilon} with "
                             f"the {accountant} accountant (q={sample_rate}, steps={steps}, delta={delta})")
    low = high / 2.0
    while feasible(low):
        high, low = low, low / 2.0
        if high < _SIGMA_MIN:
            return high
    # Bisect.
    while high - low > tol:
        middle = 0.5 * (low + high)
        if feasible(middle):
            high = middle
        else:
            low = middle
    return high


def library_versions(accountant: Accountant) -> dict[str, str]:
    """The installed version of the library that computes epsilon for ``accountant``."""
    check_accountant(accountant)
    name = "dp-accounting" if accountant == "pld" else "opacus"
    try:
        return {name: importlib.metadata.version(name)}
    except importlib.metadata.PackageNotFoundError:
        return {name: "not installed"}
