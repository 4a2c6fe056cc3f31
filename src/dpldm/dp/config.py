"""The DP-SGD settings of a private fine-tuning run, as one typed config section."""

from __future__ import annotations

import math
from dataclasses import dataclass

from dpldm.config import ConfigError
from dpldm.privacy.accountant import ACCOUNTANTS, Accountant


@dataclass(frozen=True)
class DPConfig:
    """DP-SGD with Poisson sampling, flat per-example clipping and Gaussian noise (see ``dpldm.dp.engine``)."""

    epsilon: float | None = 10.0  # target epsilon of the whole run; None: no target (then noise_multiplier is required)
    delta: float = 1e-5  # delta of (epsilon, delta)-DP; must be below 1 / dataset size (see allow_large_delta)
    # delta >= 1/N is refused: at that delta, publishing one random private example in full meets the guarantee.
    # true accepts it anyway (e.g. to reproduce a paper's setting); the accountants still refuse a negative epsilon.
    allow_large_delta: bool = False
    max_grad_norm: float = 1.0  # C: per-example L2 clipping bound, over all trainable parameters together
    expected_batch_size: int = 256  # B: expected examples per logical step; Poisson sample rate q = B / N
    epochs: float | None = None  # expected passes over the data; steps = ceil(epochs / q). Set this or steps
    steps: int | None = None  # logical steps (noisy optimizer updates). Set this or epochs
    noise_multiplier: float | None = None  # sigma: noise std / C; None: the smallest sigma meeting epsilon
    accountant: Accountant = "prv"  # "prv" (opacus PRV, as DP-LDM), "rdp" (opacus RDP) or "pld" (dp-accounting)
    noise_multiplicity: int = 1  # K: (t, noise) draws per example, averaged inside its gradient before clipping
    max_physical_batch: int = 256  # most rows (examples x K) in one forward/backward pass; bounds memory
    # None (default): Poisson sampling and the DP noise come from secret OS entropy, fresh per run. An integer seeds
    # them for a reproducible run, which is NOT private against anyone who knows it (tests and debugging only).
    seed: int | None = None

    def validate(self) -> None:
        if self.epsilon is None and self.noise_multiplier is None:
            raise ConfigError("set epsilon (a target) or noise_multiplier, or both")
        if self.epsilon is not None and not (self.epsilon > 0 and math.isfinite(self.epsilon)):
            raise ConfigError(f"epsilon must be a positive number, got {self.epsilon}")
        if self.noise_multiplier is not None and not (self.noise_multiplier > 0
                                                      and math.isfinite(self.noise_multiplier)):
            raise ConfigError(f"noise_multiplier must be positive (or null to calibrate), got {self.noise_multiplier}")
        if not 0 < self.delta < 1:
            raise ConfigError(f"delta must be in (0, 1), got {self.delta}")
        if not (self.max_grad_norm > 0 and math.isfinite(self.max_grad_norm)):
            raise ConfigError(f"max_grad_norm must be a positive number, got {self.max_grad_norm}")
        if self.expected_batch_size < 1:
            raise ConfigError(f"expected_batch_size must be at least 1, got {self.expected_batch_size}")
        if self.epochs is None and self.steps is None:
            raise ConfigError("set the length of training: epochs (expected passes over the data) or steps")
        if self.epochs is not None and self.steps is not None:
            raise ConfigError(f"set epochs ({self.epochs}) or steps ({self.steps}), not both")
        if self.epochs is not None and not (self.epochs > 0 and math.isfinite(self.epochs)):
            raise ConfigError(f"epochs must be a positive number, got {self.epochs}")
        if self.steps is not None and self.steps < 1:
            raise ConfigError(f"steps must be at least 1, got {self.steps}")
        if self.accountant not in ACCOUNTANTS:
            raise ConfigError(f"accountant must be one of {', '.join(ACCOUNTANTS)}, got {self.accountant!r}")
        if self.noise_multiplicity < 1:
            raise ConfigError(f"noise_multiplicity must be at least 1, got {self.noise_multiplicity}")
        if self.max_physical_batch < self.noise_multiplicity:
            raise ConfigError(f"max_physical_batch ({self.max_physical_batch}) must hold at least one example's "
                              f"noise_multiplicity ({self.noise_multiplicity}) rows")
