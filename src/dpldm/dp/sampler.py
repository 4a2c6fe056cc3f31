"""Poisson sampling of logical batches: the sampling the privacy accountants assume."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from dpldm.errors import DpldmError


class PoissonSampler:
    """Each call draws a logical batch in which each of ``num_examples`` examples is included independently with
    probability ``sample_rate``. The batch size is random (Binomial(N, q), mean q * N) and may be 0."""

    def __init__(self, *, num_examples: int, sample_rate: float, seed: int) -> None:
        if num_examples < 1:
            raise DpldmError(f"cannot sample from {num_examples} examples")
        if not 0.0 < sample_rate <= 1.0:
            raise DpldmError(f"sample rate must be in (0, 1], got {sample_rate}")
        self.num_examples = num_examples
        self.sample_rate = sample_rate
        self.generator = torch.Generator().manual_seed(seed)

    def sample(self) -> Tensor:
        """Indices of one logical batch, ascending; shape [b], b ~ Binomial(num_examples, sample_rate)."""
        keep = torch.rand(self.num_examples, generator=self.generator) < self.sample_rate  # [N]
        return keep.nonzero().squeeze(1)

    def state_dict(self) -> dict[str, Any]:
        return {"num_examples": self.num_examples, "sample_rate": self.sample_rate,
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("num_examples", "sample_rate"):
            if state[key] != getattr(self, key):
                raise DpldmError(f"cannot resume: the saved sampler had {key}={state[key]}, this one "
                                 f"{getattr(self, key)}")
        self.generator.set_state(state["generator"])
