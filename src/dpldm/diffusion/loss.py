"""The DDPM eps-prediction loss, one value per example (the caller reduces; DP-SGD needs it per example)."""

from __future__ import annotations

import torch
from diffusers import DDPMScheduler
from torch import nn


def eps_loss(denoiser: nn.Module, z0: torch.Tensor, cond: torch.Tensor, *, t: torch.Tensor, noise: torch.Tensor,
             schedule: DDPMScheduler) -> torch.Tensor:
    """|| eps - eps_theta(sqrt(abar_t) z0 + sqrt(1 - abar_t) eps, t, c) ||^2, averaged over latent elements.

    z0: (B, C, h, w) scaled clean latents; cond: (B,) labels or (B, L, D) token states;
    t: (B,) int64 timesteps in [0, T); noise: (B, C, h, w) standard normal eps.
    returns: loss of shape [B].
    """
    z_t = schedule.add_noise(z0, noise, t)
    eps = denoiser(z_t, t, cond)
    return (eps - noise).pow(2).flatten(1).mean(1)


def draw_t_and_noise(z0: torch.Tensor, num_train_timesteps: int, generator: torch.Generator, *,
                     t_range: tuple[int, int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Uniform t in [0, T) (or in ``t_range`` = [low, high), a part of it) and eps ~ N(0, I) for each row of
    z0 (B, C, h, w), on z0's device. The draws are the same calls whichever range, so [0, T) is the stream of
    ``t_range=None``.

    The draws are made on the generator's device, so a CPU generator gives the same values whichever device z0 is
    on (a run's stream, and its checkpointed generator state, do not depend on ``train.device``)."""
    low, high = t_range if t_range is not None else (0, num_train_timesteps)
    if not 0 <= low < high <= num_train_timesteps:
        raise ValueError(f"t_range must satisfy 0 <= low < high <= {num_train_timesteps}, got {t_range}")
    t = torch.randint(low, high, (z0.shape[0],), generator=generator, device=generator.device)
    noise = torch.randn(z0.shape, generator=generator, device=generator.device, dtype=z0.dtype)
    return t.to(z0.device), noise.to(z0.device)
