"""The noise predictor eps(z_t, t, condition): a conditioner producing the context, and the UNet."""

from __future__ import annotations

import torch
from diffusers import UNet2DConditionModel
from torch import nn


class LatentDenoiser(nn.Module):
    """eps_theta(z_t, t, c).

    z_t: (B, C, h, w) noisy latents; t: (B,) int64 timesteps; cond: (B,) int64 class labels for a
    ``ClassEmbedder`` conditioner, or (B, L, text_dim) float token states for a ``TextProjector``.
    returns: predicted noise (B, C, h, w).
    """

    def __init__(self, unet: UNet2DConditionModel, conditioner: nn.Module):
        super().__init__()
        self.unet = unet
        self.conditioner = conditioner

    def forward(self, z_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        context = self.conditioner(cond)
        return self.unet(z_t, t, encoder_hidden_states=context, return_dict=False)[0]
