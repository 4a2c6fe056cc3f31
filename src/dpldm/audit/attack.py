"""The loss-based membership attack on a fine-tuned latent diffusion model, calibrated by its starting point.

A diffusion model trained on a record denoises it better than one that was not: the eps-prediction loss at a few
moderate timesteps is the strongest simple signal (Matsumoto et al. 2023; Hu & Pang 2023 find t around 100-300 of
1000 best; Carlini et al. 2023 use the same loss). A record can also be easy or hard for every model, so the loss is
compared with the same record's loss under a reference model that never saw the private data: the likelihood-ratio
idea of LiRA (Carlini et al. 2022) with the reference as the "out" model, as in Watson et al. 2022's difficulty
calibration. In fine-tuning the natural reference is the fine-tuning's own starting point, the public model with its
new class rows (built exactly as fine-tuning built them), and both models see the same (t, eps) draws::

    L_m(x, t) = mean_k || eps_k - eps_m(sqrt(abar_t) z + sqrt(1 - abar_t) eps_k, t, y) ||^2     m in {target, ref}
    score(x)  = mean_t [ log L_ref(x, t) - log L_target(x, t) ]        higher = "member"

The log makes the timesteps' losses, which differ by orders of magnitude, count alike. The default timesteps are
small ones: on a non-private fine-tune of the digits (BENCHMARKS.md, "Privacy audit"; a pilot run with other
coins than the reported runs) the records' AUC was 0.66-0.67 at t = 10-50, 0.60 at t = 100 and 0.55 at 200-300:
at small t the model must reproduce a record's fine detail, which is what it memorises. More draws per t lower the
loss estimate's noise (4 -> 16 draws at t = 10-50 raised that AUC from 0.67 to 0.70).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from dpldm.diffusion.loss import eps_loss
from dpldm.diffusion.schedule import train_scheduler

DEFAULT_TIMESTEPS = (10, 25, 50, 100)


@dataclass(frozen=True)
class AttackConfig:
    timesteps: tuple[int, ...] = DEFAULT_TIMESTEPS  # t at which the loss is measured (of T = 1000)
    draws: int = 16  # eps draws per record and timestep, averaged inside the loss
    seed: int = 0  # seeds the draws: record i's draws depend on (seed, i) only, not on the batch
    batch_size: int = 256  # rows (records x timesteps x draws) per forward pass

    def validate(self) -> None:
        if not self.timesteps or self.draws < 1 or self.batch_size < 1:
            raise ValueError("need at least one timestep, draws >= 1 and batch_size >= 1")


def record_noise(i: int, shape: tuple[int, ...], *, rows: int, seed: int) -> torch.Tensor:
    """The eps draws of record ``i``: (rows, *shape) standard normal from a generator seeded by (seed, i)."""
    state = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
    return torch.randn((rows, *shape), generator=torch.Generator().manual_seed(state))


@torch.no_grad()
def denoising_losses(denoiser: nn.Module, diffusion, latents: torch.Tensor, labels: torch.Tensor,
                     config: AttackConfig, *, progress: bool = False) -> torch.Tensor:
    """L(x, t) of every record under ``denoiser``: (N, len(timesteps)), each the mean over ``draws`` eps draws.

    latents: (N, c, h, w) scaled clean latents; labels: (N,) class labels (the records' own).
    """
    config.validate()
    schedule = train_scheduler(diffusion)
    denoiser.eval()
    n_t, k = len(config.timesteps), config.draws
    t_row = torch.tensor(config.timesteps).repeat_interleave(k)  # (n_t * k,): t-major, then draw
    per_record = n_t * k
    records = max(1, config.batch_size // per_record)
    out = []
    for start in tqdm(range(0, len(latents), records), disable=not progress, desc="attack", unit="batch"):
        idx = range(start, min(start + records, len(latents)))
        z0 = latents[start:idx.stop].repeat_interleave(per_record, 0)  # (b * n_t * k, c, h, w)
        y = labels[start:idx.stop].repeat_interleave(per_record, 0)
        t = t_row.repeat(len(idx))
        noise = torch.cat([record_noise(i, tuple(latents.shape[1:]), rows=per_record, seed=config.seed)
                           for i in idx])
        loss = eps_loss(denoiser, z0, y, t=t, noise=noise, schedule=schedule)  # (b * n_t * k,)
        out.append(loss.reshape(len(idx), n_t, k).mean(2))
    return torch.cat(out) if out else torch.zeros(0, n_t)


def calibrated_scores(target_losses: np.ndarray, reference_losses: np.ndarray) -> np.ndarray:
    """score = mean_t [log L_ref - log L_target]: (N, n_t) losses -> (N,) scores, higher = "member"."""
    return (np.log(reference_losses) - np.log(target_losses)).mean(1)


def loss_scores(target_losses: np.ndarray) -> np.ndarray:
    """The uncalibrated attack, for comparison: score = -mean_t log L_target."""
    return -np.log(target_losses).mean(1)
