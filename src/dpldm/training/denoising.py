"""The loss both denoiser stages train on: DDPM eps-prediction with classifier-free guidance's condition dropout.

Pretraining (public latents, mean over the batch) and DP fine-tuning (per-example losses, through
``dpldm.dp.engine``) call the same ``GuidedEpsLoss``, so a guided model learns the null condition the same way in
both. Its random draws come from the generator it is given, in this order: one uniform per row (is the row's
condition dropped?), then t and the noise (``dpldm.diffusion.loss.draw_t_and_noise``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import DDPMScheduler
from torch import nn

from dpldm.diffusion.loss import draw_t_and_noise, eps_loss
from dpldm.models.conditioning import drop_condition
from dpldm.training.device import autocast


def drop_labels(conditioner: nn.Module, cond: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    """``cond`` (labels (B,) or caption token ids (B, L)) with each row replaced by the null condition with
    probability ``p``: one uniform draw per row from ``generator``, on ``cond``'s device."""
    drop = torch.rand(len(cond), generator=generator, device=cond.device) < p
    return drop_condition(conditioner, cond, drop)


@dataclass
class GuidedEpsLoss:
    """loss(module, z0, cond, generator) -> the eps-prediction loss of each row, float32, shape [B].

    conditioner: the denoiser's own (its null condition is what a dropped row becomes); module: the denoiser or a
    wrapper of it (the DP engine's per-example-gradient module). Only the forward pass runs under ``precision``."""

    conditioner: nn.Module
    schedule: DDPMScheduler
    num_train_timesteps: int
    label_dropout: float
    device: torch.device
    precision: str = "fp32"
    t_range: tuple[int, int] | None = None  # draw t from [low, high) instead of all of [0, T)

    def __call__(self, module: nn.Module, z0: torch.Tensor, cond: torch.Tensor,
                 generator: torch.Generator) -> torch.Tensor:
        cond = drop_labels(self.conditioner, cond, self.label_dropout, generator)
        t, noise = draw_t_and_noise(z0, self.num_train_timesteps, generator, t_range=self.t_range)
        with autocast(self.device, self.precision):  # the forward pass only; backward (per-example or not) outside
            loss = eps_loss(module, z0, cond.to(z0.device), t=t, noise=noise, schedule=self.schedule)
        return loss.float()
