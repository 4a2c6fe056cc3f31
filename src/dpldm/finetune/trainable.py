"""What private fine-tuning trains: one declarative spec instead of the official code's five exclusive flags.

The paper trains the spatial-transformer blocks (self-attention, cross-attention, their norms, projections and
feed-forward) from a chosen depth on, plus the class embedder; everything else stays as pretrained on public data.
Blocks are numbered from 1 in forward order (down path, mid block, up path): see
``dpldm.models.unet.transformer_blocks`` for the rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import nn

from dpldm.models.denoiser import LatentDenoiser
from dpldm.models.unet import transformer_blocks

ATTENTION_PROJECTIONS = ("to_q", "to_k", "to_v", "to_out")


@dataclass
class TrainableSpec:
    modules: Literal["transformer_blocks", "attention", "all"] = "transformer_blocks"  # kind of module trained:
    # whole transformer blocks (the paper), only the attention projections (q, k, v, out) inside them, or the
    # whole UNet (the full fine-tuning baseline; from_block is then ignored)
    from_block: int = 1  # first trained transformer block, 1-based in forward order (the paper's "blocks 9-16": 9)
    class_embedder: bool = True  # train the class embedding table (new private classes always get fresh rows)

    def validate(self) -> None:
        if self.from_block < 1:
            raise ValueError(f"from_block counts from 1, got {self.from_block}")


def select_trainable(denoiser: LatentDenoiser, spec: TrainableSpec) -> list[str]:
    """Set ``requires_grad`` on exactly the modules ``spec`` names; return their names (module paths)."""
    blocks = transformer_blocks(denoiser.unet)
    if spec.modules != "all" and spec.from_block > len(blocks):
        raise ValueError(f"from_block={spec.from_block} but this UNet has {len(blocks)} transformer blocks")
    denoiser.requires_grad_(False)
    chosen: list[tuple[str, nn.Module]] = []
    if spec.modules == "all":
        chosen.append(("unet", denoiser.unet))
    else:
        for name, block in blocks[spec.from_block - 1:]:
            if spec.modules == "transformer_blocks":
                chosen.append((f"unet.{name}", block))
            else:
                chosen += [(f"unet.{name}.{sub}", m) for sub, m in block.named_modules()
                           if sub.split(".")[-1] in ATTENTION_PROJECTIONS]
    if spec.class_embedder:
        chosen.append(("conditioner", denoiser.conditioner))
    for _, module in chosen:
        module.requires_grad_(True)
    return [name for name, _ in chosen]


def count_params(module: nn.Module, *, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
