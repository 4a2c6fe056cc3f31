"""What private fine-tuning trains: one declarative spec instead of the official code's five exclusive flags.

The paper trains the spatial-transformer blocks (self-attention, cross-attention, their norms, projections and
feed-forward) from a chosen depth on, plus the class embedder; everything else stays as pretrained on public data.
Blocks are numbered from 1 in forward order (down path, mid block, up path): see
``dpldm.models.unet.transformer_blocks`` for the rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from dpldm.models.conditioning import ClassEmbedder
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
    text_projector: bool = True  # text models: train the projector from text-encoder states to the UNet's context
    # (a Stable-Diffusion-format model has none: CLIP's states go in as they are)
    text_encoder: bool = False  # text models: fine-tune the text encoder too, under the same DP-SGD (frozen by
    # default, as its states then need no per-example gradients)
    lora_rank: int = 0  # > 0: instead of the weights themselves, train rank-r LoRA adapters (peft) on the attention
    # projections (q, k, v, out) of the chosen blocks; merged into the weights when the model is exported

    def validate(self) -> None:
        if self.from_block < 1:
            raise ValueError(f"from_block counts from 1, got {self.from_block}")
        if self.lora_rank < 0:
            raise ValueError(f"lora_rank must be >= 0, got {self.lora_rank}")
        if self.lora_rank and self.modules == "all":
            raise ValueError("LoRA adapts attention projections: use modules 'transformer_blocks' or 'attention'")


def select_trainable(denoiser: LatentDenoiser, spec: TrainableSpec, *, seed: int = 0) -> list[str]:
    """Set ``requires_grad`` on exactly the modules ``spec`` names; return their names (module paths).
    ``seed``: of the LoRA adapters' initialisation (data-independent), when ``spec`` asks for them."""
    blocks = transformer_blocks(denoiser.unet)
    if spec.modules != "all" and spec.from_block > len(blocks):
        raise ValueError(f"from_block={spec.from_block} but this UNet has {len(blocks)} transformer blocks")
    denoiser.requires_grad_(False)
    chosen: list[tuple[str, nn.Module]] = []
    if spec.lora_rank:
        names = add_lora(denoiser, [b for _, b in blocks[spec.from_block - 1:]], spec.lora_rank, seed=seed)
        chosen += [(f"unet.{n} (LoRA r={spec.lora_rank})", m) for n, m in denoiser.unet.named_modules()
                   if n.split(".")[-1] in ("lora_A", "lora_B") and n.rsplit(".", 1)[0] in names]
    elif spec.modules == "all":
        chosen.append(("unet", denoiser.unet))
    else:
        for name, block in blocks[spec.from_block - 1:]:
            if spec.modules == "transformer_blocks":
                chosen.append((f"unet.{name}", block))
            else:
                chosen += [(f"unet.{name}.{sub}", m) for sub, m in block.named_modules()
                           if sub.split(".")[-1] in ATTENTION_PROJECTIONS]
    conditioner = denoiser.conditioner
    if isinstance(conditioner, ClassEmbedder):
        if spec.class_embedder:
            chosen.append(("conditioner", conditioner))
    else:  # a TextConditioner: its projector (when it has one) and, if asked, its text encoder
        if spec.text_projector and conditioner.projector is not None:
            chosen.append(("conditioner.projector", conditioner.projector))
        if spec.text_encoder:
            chosen.append(("conditioner.encoder", conditioner.encoder))
    for _, module in chosen:
        module.requires_grad_(True)
    return [name for name, _ in chosen]


def add_lora(denoiser: LatentDenoiser, blocks: list[nn.Module], rank: int, *, seed: int = 0) -> set[str]:
    """Wrap the attention projections of ``blocks`` in peft LoRA layers (B initialised to zero, so the model is
    unchanged until trained); returns the wrapped modules' names inside the UNet.

    peft draws A from torch's global generator; it is seeded here (and the caller's state restored), so a run's
    adapters depend on ``seed`` alone, not on what ran before in the process.
    """
    from peft import LoraConfig, inject_adapter_in_model

    inside = {id(m) for block in blocks for m in block.modules()}
    targets = [name for name, m in denoiser.unet.named_modules()
               if id(m) in inside and isinstance(m, nn.Linear) and _is_projection(name)]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        inject_adapter_in_model(LoraConfig(r=rank, lora_alpha=rank, target_modules=targets), denoiser.unet)
    return set(targets)


def _is_projection(name: str) -> bool:
    parts = name.split(".")
    return parts[-1] in ATTENTION_PROJECTIONS or (parts[-2:-1] == ["to_out"] and parts[-1] == "0")


def merge_lora(denoiser: LatentDenoiser) -> int:
    """Fold every LoRA adapter into its base weight and put the plain layer back; returns how many were merged.

    After this the denoiser has exactly the public model's module names, so it saves and loads like any other.
    """
    from peft.tuners.lora import LoraLayer

    merged = 0
    for name, module in list(denoiser.unet.named_modules()):
        if isinstance(module, LoraLayer):
            module.merge()
            parent_name, _, child = name.rpartition(".")
            parent = denoiser.unet.get_submodule(parent_name) if parent_name else denoiser.unet
            setattr(parent, child, module.get_base_layer())
            merged += 1
    return merged


def count_params(module: nn.Module, *, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
