"""Gradient checkpointing of a diffusers UNet's FROZEN ResNet blocks, for fine-tuning at 256x256 in less memory.

diffusers' own switch (``enable_gradient_checkpointing``) recomputes, in the backward pass, the ResNets of each
UNet block and the transformer blocks inside each ``Transformer2DModel``. Per-example gradient hooks (opacus, or any
hook that records a module's inputs) must pair each trained module's backward with exactly one recorded forward;
whether a recomputed module's hooks run again is up to torch's checkpoint implementation, so a trained module is
never recomputed here. Only blocks whose checkpointed part (its ``resnets``) has no trained parameter keep the
switch: with the attention-only fine-tuning of DP-LDM these are the ResNets, which hold most of the activation
memory at high resolution; the trained transformer blocks run as usual. The gradients are
the same as without checkpointing (tested against the plain backward, per example).
"""

from __future__ import annotations

from torch import nn


def checkpoint_frozen_blocks(unet: nn.Module) -> int:
    """Turn on gradient checkpointing in the blocks of ``unet`` (a diffusers UNet whose trained parameters are
    already chosen) whose checkpointed ResNets are all frozen, and off everywhere else; returns how many blocks
    recompute their ResNets. Call it again after changing which parameters are trained."""
    if not hasattr(unet, "enable_gradient_checkpointing"):
        raise TypeError(f"{type(unet).__name__} is not a diffusers model with gradient checkpointing")
    unet.enable_gradient_checkpointing()  # sets the switch and diffusers' checkpoint function on every block
    on = 0
    for module in unet.modules():
        if not hasattr(module, "gradient_checkpointing") or module is unet:
            continue
        resnets = getattr(module, "resnets", None)
        frozen = isinstance(resnets, nn.Module) and not any(p.requires_grad for p in resnets.parameters())
        module.gradient_checkpointing = frozen  # a block of another shape, or with trained ResNets: off
        on += frozen
    return on
