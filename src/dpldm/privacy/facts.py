"""The privacy guarantee of a run as an immutable value, written to the run folder as ``privacy.json``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

NEIGHBOURING_RELATION = "add/remove one"  # neighbouring datasets differ by one example, added or removed
SAMPLING = "Poisson"  # each example joins each logical batch independently with probability sample_rate


@dataclass(frozen=True)
class PrivacyFacts:
    """(epsilon, delta)-DP of ``steps`` Poisson-sampled Gaussian steps (after the ``prior`` mechanisms, if any), as
    computed by ``accountant``."""

    accountant: str  # "rdp", "prv" or "pld" (see dpldm.privacy.accountant)
    noise_multiplier: float  # sigma: noise std / clipping norm
    sample_rate: float  # q: expected batch size / dataset size
    steps: int  # logical (optimizer) steps taken
    delta: float
    epsilon: float  # spent after ``steps`` steps, for ``delta``
    target_epsilon: float | None = None  # the budget the run was calibrated for, if any
    neighbouring_relation: str = NEIGHBOURING_RELATION
    sampling: str = SAMPLING
    libraries: tuple[tuple[str, str], ...] = field(default=())  # (package, version) that computed epsilon
    # Whether sampling and noise came from secret OS entropy (the DP engine states it; None: not stated). False: a
    # seeded run, NOT private against anyone who knows the seed; ``note`` says so.
    secret_randomness: bool | None = None
    note: str | None = None
    # Mechanisms run on the same private data before this run, whose output it started from, as (sigma, q, steps):
    # a DP choice of public classes is one Gaussian mechanism on the whole data, (sigma, 1.0, 1). ``epsilon`` is
    # theirs and this run's composed in ``accountant``, so it covers everything the model was made from.
    prior: tuple[tuple[float, float, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["libraries"] = dict(self.libraries)
        data["prior"] = [{"noise_multiplier": s, "sample_rate": q, "steps": t} for s, q, t in self.prior]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)
