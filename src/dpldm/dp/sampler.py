"""Poisson sampling of logical batches: the sampling the privacy accountants assume."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from dpldm.dp.randomness import DPRandom
from dpldm.errors import DpldmError


class PoissonSampler:
    """Each call draws a logical batch in which each of ``num_examples`` examples is included independently with
    probability ``sample_rate``. The batch size is random (Binomial(N, q), mean q * N) and may be 0.

    random: the source of the inclusion draws; secret (``SecretRandom``) unless the run is explicitly reproducible.
    """

    def __init__(self, *, num_examples: int, sample_rate: float, random: DPRandom) -> None:
        if num_examples < 1:
            raise DpldmError(f"cannot sample from {num_examples} examples")
        if not 0.0 < sample_rate <= 1.0:
            raise DpldmError(f"sample rate must be in (0, 1], got {sample_rate}")
        self.num_examples = num_examples
        self.sample_rate = sample_rate
        self.random = random

    def sample(self) -> Tensor:
        """Indices of one logical batch, ascending; shape [b], b ~ Binomial(num_examples, sample_rate)."""
        keep = self.random.uniform(self.num_examples) < self.sample_rate  # [N]
        return keep.nonzero().squeeze(1)

    def state_dict(self) -> dict[str, Any]:
        return {"num_examples": self.num_examples, "sample_rate": self.sample_rate,
                "random": self.random.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("num_examples", "sample_rate"):
            if state[key] != getattr(self, key):
                raise DpldmError(f"cannot resume: the saved sampler had {key}={state[key]}, this one "
                                 f"{getattr(self, key)}")
        self.random.load_state_dict(state["random"])
