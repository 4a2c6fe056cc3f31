"""The conditional latent UNet (diffusers ``UNet2DConditionModel``), and how its transformer blocks are counted.

Using diffusers' UNet keeps the module names of Stable-Diffusion-shaped models, so larger public checkpoints
load into the same code path, and the transformer-block counting rule below applies to them unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from diffusers import UNet2DConditionModel
from torch import nn


@dataclass
class UNetConfig:
    sample_size: int = 7  # latent height = width
    latent_channels: int = 3  # channels of z (the autoencoder's latent_channels)
    block_out_channels: tuple[int, ...] = (64, 128)  # width per resolution level
    attention_levels: tuple[bool, ...] = (True, True)  # per level: transformer blocks (self+cross attention) or not
    layers_per_block: int = 2  # resnet (+ transformer) layers per down level; up levels get one more
    transformer_layers_per_block: int = 1  # BasicTransformerBlocks inside each Transformer2DModel
    attention_head_dim: int = 32  # channels per attention head
    cross_attention_dim: int = 64  # width of the conditioning context (class embedding or projected text)
    norm_num_groups: int = 32  # GroupNorm groups; must divide every block width

    def validate(self) -> None:
        if len(self.attention_levels) != len(self.block_out_channels):
            raise ValueError("attention_levels needs one entry per block_out_channels level")
        if any(c % self.norm_num_groups for c in self.block_out_channels):
            raise ValueError(f"norm_num_groups={self.norm_num_groups} must divide every block width")
        if any(c % self.attention_head_dim for c in self.block_out_channels):
            raise ValueError(f"attention_head_dim={self.attention_head_dim} must divide every block width")


def build_unet(cfg: UNetConfig) -> UNet2DConditionModel:
    down = tuple("CrossAttnDownBlock2D" if a else "DownBlock2D" for a in cfg.attention_levels)
    up = tuple("CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(cfg.attention_levels))
    mid = "UNetMidBlock2DCrossAttn" if cfg.attention_levels[-1] else None
    # diffusers' historic naming: `attention_head_dim` given as a tuple is read as the number of heads per level.
    heads = tuple(c // cfg.attention_head_dim for c in cfg.block_out_channels)
    return UNet2DConditionModel(
        sample_size=cfg.sample_size,
        in_channels=cfg.latent_channels,
        out_channels=cfg.latent_channels,
        down_block_types=down,
        up_block_types=up,
        mid_block_type=mid,
        block_out_channels=tuple(cfg.block_out_channels),
        layers_per_block=cfg.layers_per_block,
        transformer_layers_per_block=cfg.transformer_layers_per_block,
        attention_head_dim=heads,
        cross_attention_dim=cfg.cross_attention_dim,
        norm_num_groups=cfg.norm_num_groups,
    )


def transformer_blocks(unet: UNet2DConditionModel) -> list[tuple[str, nn.Module]]:
    """The UNet's transformer blocks in the order the forward pass runs them, numbered from 1.

    Counting rule (the paper's "blocks 9-16"): every ``Transformer2DModel`` (a spatial transformer: norm,
    proj_in, self-attention, cross-attention, feed-forward, proj_out) counts as one block, visited down path
    (shallow to deep), then the mid block, then the up path (deep to shallow). Block i of this list is
    ``blocks[i - 1]``; "from block 9 on" means ``blocks[8:]``.
    """
    blocks = []
    for prefix, stage in [("down_blocks", unet.down_blocks), ("mid_block", [unet.mid_block]),
                          ("up_blocks", unet.up_blocks)]:
        for i, block in enumerate(stage):
            if block is None:
                continue
            where = prefix if prefix == "mid_block" else f"{prefix}.{i}"
            for j, attn in enumerate(getattr(block, "attentions", None) or []):
                blocks.append((f"{where}.attentions.{j}", attn))
    return blocks
