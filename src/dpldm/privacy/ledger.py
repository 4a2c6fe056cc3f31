"""The running privacy account of one training run: stepped once per logical step, resumable."""

from __future__ import annotations

from typing import Any

from dpldm.errors import DpldmError
from dpldm.privacy.accountant import (
    Accountant,
    Mechanism,
    check_accountant,
    check_delta,
    check_noise_multiplier,
    check_sample_rate,
    check_steps,
    composed_epsilon,
    epsilon,
    library_versions,
)
from dpldm.privacy.facts import PrivacyFacts


class PrivacyLedger:
    """Counts logical steps of one (sigma, q) Gaussian mechanism and reports the epsilon spent so far.

    The mechanism is fixed for the run: a resumed run must use the same accountant, sigma, q, delta and prior, and
    ``load_state_dict`` refuses anything else. Epsilon is recomputed from the step count with the library
    accountant, so a resumed ledger reports exactly what an uninterrupted one would.

    ``prior``: mechanisms that ran on the same private data before this run and shaped what it starts from (a DP
    choice of public classes, ``dpldm.public_selection``); the epsilon reported is theirs and this run's composed
    in the one accountant, so what a run states covers everything its model was made from.
    """

    def __init__(self, *, accountant: Accountant, noise_multiplier: float, sample_rate: float, delta: float,
                 prior: tuple[Mechanism, ...] = ()) -> None:
        check_accountant(accountant)
        check_noise_multiplier(noise_multiplier)
        check_sample_rate(sample_rate)
        check_delta(delta)
        for mechanism in prior:
            check_noise_multiplier(mechanism[0])
            check_sample_rate(mechanism[1])
            check_steps(mechanism[2])
        self.accountant = accountant
        self.noise_multiplier = float(noise_multiplier)
        self.sample_rate = float(sample_rate)
        self.delta = float(delta)
        self.prior = tuple((float(s), float(q), int(t)) for s, q, t in prior)
        self.steps = 0

    def step(self) -> None:
        """Record one logical step (one noisy optimizer update, however many physical batches it took)."""
        self.steps += 1

    def epsilon(self, *, extra_steps: int = 0) -> float:
        """Epsilon spent after the steps so far, plus ``extra_steps`` more, composed with the prior mechanisms;
        before any step, the prior's alone (0 without one)."""
        total = self.steps + extra_steps
        if self.prior:
            own = [(self.noise_multiplier, self.sample_rate, total)] if total else []
            return composed_epsilon([*self.prior, *own], delta=self.delta, accountant=self.accountant)
        if total == 0:
            return 0.0
        check_steps(total)
        return epsilon(noise_multiplier=self.noise_multiplier, sample_rate=self.sample_rate, steps=total,
                       delta=self.delta, accountant=self.accountant)

    def would_exceed(self, target_epsilon: float, *, steps: int = 1) -> bool:
        """Whether taking ``steps`` more steps would spend more than ``target_epsilon``."""
        return self.epsilon(extra_steps=steps) > target_epsilon

    def facts(self, *, target_epsilon: float | None = None) -> PrivacyFacts:
        return PrivacyFacts(
            accountant=self.accountant,
            noise_multiplier=self.noise_multiplier,
            sample_rate=self.sample_rate,
            steps=self.steps,
            delta=self.delta,
            epsilon=self.epsilon(),
            target_epsilon=target_epsilon,
            libraries=tuple(library_versions(self.accountant).items()),
            prior=self.prior,
        )

    def state_dict(self) -> dict[str, Any]:
        return {"accountant": self.accountant, "noise_multiplier": self.noise_multiplier,
                "sample_rate": self.sample_rate, "delta": self.delta, "steps": self.steps,
                "prior": [list(m) for m in self.prior]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        # A checkpoint from before prior mechanisms had none.
        state = {**state, "prior": [list(m) for m in state.get("prior", [])]}
        mine = self.state_dict()
        missing = sorted(set(mine) - set(state))
        if missing:
            raise DpldmError(f"privacy ledger state lacks {', '.join(missing)}")
        for key in ("accountant", "noise_multiplier", "sample_rate", "delta", "prior"):
            if state[key] != mine[key]:
                raise DpldmError(f"cannot resume: the saved run used {key}={state[key]!r}, this one "
                                 f"{mine[key]!r}; a run's privacy mechanism cannot change midway")
        if state["steps"] != 0:
            check_steps(state["steps"])
        self.steps = int(state["steps"])
