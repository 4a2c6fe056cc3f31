"""KL-regularised autoencoder (diffusers ``AutoencoderKL``) sized from a typed config."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import AutoencoderKL


@dataclass
class AutoencoderConfig:
    in_channels: int = 1  # image channels: 1 grayscale, 3 RGB
    latent_channels: int = 3  # channels of the latent z
    block_out_channels: tuple[int, ...] = (32, 64, 64)  # one block per level; downsampling factor 2**(levels-1)
    layers_per_block: int = 1  # resnet layers per encoder block (the decoder has one more)
    norm_num_groups: int = 32  # GroupNorm groups; must divide every block width
    mid_block_attention: bool = True  # self-attention in the bottleneck

    def validate(self) -> None:
        if any(c % self.norm_num_groups for c in self.block_out_channels):
            raise ValueError(f"norm_num_groups={self.norm_num_groups} must divide every block_out_channels "
                             f"{list(self.block_out_channels)}")

    @property
    def downsampling(self) -> int:
        return 2 ** (len(self.block_out_channels) - 1)


def build_autoencoder(cfg: AutoencoderConfig) -> AutoencoderKL:
    levels = len(cfg.block_out_channels)
    return AutoencoderKL(
        in_channels=cfg.in_channels,
        out_channels=cfg.in_channels,
        down_block_types=("DownEncoderBlock2D",) * levels,
        up_block_types=("UpDecoderBlock2D",) * levels,
        block_out_channels=tuple(cfg.block_out_channels),
        layers_per_block=cfg.layers_per_block,
        latent_channels=cfg.latent_channels,
        norm_num_groups=cfg.norm_num_groups,
        mid_block_add_attention=cfg.mid_block_attention,
        scaling_factor=1.0,  # we keep our own scale factor, computed from the data (scale-by-std)
        force_upcast=False,
    )


@torch.no_grad()
def encode_mean(vae: AutoencoderKL, x: torch.Tensor) -> torch.Tensor:
    """Images (B, C, H, W) in [-1, 1] -> posterior means (B, c, h, w), unscaled."""
    return vae.encode(x).latent_dist.mean
