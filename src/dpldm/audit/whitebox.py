"""White-box audit of the DP-SGD engine with a gradient canary (Nasr et al. 2021, "Adversary Instantiation").

The strongest adversary of DP-SGD's analysis sees every noisy update and chooses the data. Here it does both:

- the model is a linear map w -> <w, x> (``dim`` weights) trained on the loss <w, x>, so an example's gradient is its
  own x and does not depend on w: the adversary writes gradients directly;
- the other ``dataset_size - 1`` examples are x = 0 (they add nothing), and the last example is either the canary,
  x = 10 C u for a fixed unit vector u (clipped to C u), or x = 0 (the canary left out: a zero-gradient example
  changes no update, so this *is* the dataset without the canary, with the same size and sample rate);
- training is the real ``DPSGDEngine`` with plain SGD at a known learning rate, so the adversary reads the noisy
  mean gradient of step s from the weights: g^_s = -(w_s - w_{s-1}) / lr.

Per trial (one training run of ``steps`` steps, canary in or out by a public coin) the adversary computes
    score = sum_s < g^_s - n_s, u > B / C          (the number of steps that sampled the canary, plus noise)
where n_s is the part of g^_s it can predict without the canary: with the DP seed handed to it, it reruns the
engine on the dataset without the canary from the same seed (the seeded mode's sampler and noise streams are separate
and the noise draws do not depend on the data, so they are the same), so n_s is
the noise itself and the score is exactly the count; with secret entropy it can predict nothing (n_s = 0) and the
score is count + N(0, steps sigma^2). The scores of all trials give an empirical epsilon lower bound
(``dpldm.audit.bounds``): with the seed it must exceed the accountant's epsilon far (the audit can fail), without
it it must stay below (the engine's noise is what the accountant assumes).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, replace
from typing import Callable

import numpy as np
import torch
from torch import nn

from dpldm.audit.bounds import audit_epsilon
from dpldm.dp import DPConfig, DPSGDEngine, make_plan
from dpldm.dp.engine import SeededRunWarning
from dpldm.errors import DpldmError


@dataclass(frozen=True)
class WhiteboxConfig:
    trials: int = 1000  # training runs; each is one guess (canary in or out)
    steps: int = 8  # logical DP-SGD steps per run
    dataset_size: int = 10  # N, the canary's row included
    expected_batch_size: int = 5  # B; sample rate q = B / N
    epsilon: float = 1.0  # the claim: sigma is calibrated to it by the engine's own plan
    delta: float = 1e-5
    max_grad_norm: float = 1.0  # C
    accountant: str = "prv"
    dim: int = 16  # weights of the linear model
    lr: float = 1.0  # plain SGD learning rate, known to the adversary
    seed: int = 0  # the audit's public seed: trial coins, selection coins, the canary direction, the known DP seeds
    alpha: float = 0.05  # confidence 1 - alpha of the epsilon bound

    def validate(self) -> None:
        if self.trials < 8 or self.steps < 1 or self.dim < 1 or self.lr <= 0:
            raise DpldmError("need trials >= 8, steps >= 1, dim >= 1 and lr > 0")
        if not 1 <= self.expected_batch_size <= self.dataset_size:
            raise DpldmError(f"need 1 <= expected_batch_size <= dataset_size, got {self.expected_batch_size} "
                             f"and {self.dataset_size}")


def _linear_loss(module: nn.Module, batch: dict[str, torch.Tensor], generator: torch.Generator) -> torch.Tensor:
    """<w, x> per row: the gradient of row i is x_i. -> [rows]"""
    return module(batch["x"]).squeeze(1)


def train_run(cfg: WhiteboxConfig, dp: DPConfig, x: torch.Tensor) -> torch.Tensor:
    """One DP-SGD run of a fresh zero-initialised linear model on rows ``x`` (N, dim), float64.

    returns: the noisy mean gradients the adversary reads off the weights, (steps, dim).
    """
    model = nn.Linear(cfg.dim, 1, bias=False).double()
    nn.init.zeros_(model.weight)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    engine = DPSGDEngine(model, optimizer, _linear_loss, {"x": x}, config=dp)
    weights = [model.weight.detach().clone().reshape(-1)]
    while not engine.done:
        engine.step()
        weights.append(model.weight.detach().clone().reshape(-1))
    engine.close()
    w = torch.stack(weights)  # (steps + 1, dim)
    return -(w[1:] - w[:-1]) / cfg.lr


def whitebox_audit(cfg: WhiteboxConfig, *, seed_known: bool,
                   progress: Callable[[int], None] | None = None) -> dict:
    """Run ``cfg.trials`` trials and bound epsilon from the adversary's scores (see the module docstring).

    seed_known: each trial's DP seed is derived from ``cfg.seed`` and handed to the adversary (the engine's seeded,
    non-private mode, on purpose: its warning is silenced here); else the engine draws from secret OS entropy
    (``DPConfig(seed=None)``, ``dpldm.dp.randomness``) and the adversary never learns it.
    """
    cfg.validate()
    rng = np.random.default_rng(cfg.seed)
    direction = torch.from_numpy(rng.standard_normal(cfg.dim))
    direction /= direction.norm()  # u
    canary_x = 10 * cfg.max_grad_norm * direction  # clipped to C u
    member = rng.random(cfg.trials) < 0.5  # public coin: canary in this trial's data
    select = rng.random(cfg.trials) < 0.5  # public coin: trial used only to choose the threshold
    known_seeds = rng.integers(0, 2**63 - 1, size=cfg.trials)
    # Calibrate sigma once for the claim; every trial runs this plan.
    base = DPConfig(epsilon=cfg.epsilon, delta=cfg.delta, max_grad_norm=cfg.max_grad_norm,
                    expected_batch_size=cfg.expected_batch_size, steps=cfg.steps, accountant=cfg.accountant,
                    max_physical_batch=cfg.dataset_size)
    plan = make_plan(base, dataset_size=cfg.dataset_size)
    base = replace(base, noise_multiplier=plan.noise_multiplier)
    without = torch.zeros(cfg.dataset_size, cfg.dim, dtype=torch.float64)
    with_canary = without.clone()
    with_canary[-1] = canary_x
    scores = np.empty(cfg.trials)
    for i in range(cfg.trials):
        dp = replace(base, seed=int(known_seeds[i]) if seed_known else None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SeededRunWarning)
            grads = train_run(cfg, dp, with_canary if member[i] else without)  # what the adversary observes
            if seed_known:  # regenerate everything but the canary: the same seed on the dataset without it
                grads = grads - train_run(cfg, dp, without)
        scores[i] = float((grads @ direction).sum()) * cfg.expected_batch_size / cfg.max_grad_norm
        if progress is not None:
            progress(i + 1)
    bound = audit_epsilon(scores, member, select, delta=cfg.delta, alpha=cfg.alpha)
    return {"config": asdict(cfg), "seed_known": seed_known, "noise_multiplier": plan.noise_multiplier,
            "sample_rate": plan.sample_rate, "accountant_epsilon": plan.epsilon,
            "epsilon_lower_bound": bound.to_dict(), "bound_within_claim": bound.epsilon <= plan.epsilon,
            "mean_score_in": float(scores[member].mean()), "mean_score_out": float(scores[~member].mean())}
