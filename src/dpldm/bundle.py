"""A released latent diffusion model on disk: autoencoder + denoiser weights (safetensors) and one JSON of facts.

Folder layout:
    autoencoder.safetensors  denoiser.safetensors  model.json
``model.json`` holds the configs needed to rebuild both modules, the latent scale factor, the class names, the
sha256 of each weights file (checked on load), and, for fine-tuned models, the privacy guarantee.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from dpldm.config import from_dict, to_dict
from dpldm.diffusion.schedule import DiffusionConfig
from dpldm.errors import DpldmError
from dpldm.models.autoencoder import AutoencoderConfig, build_autoencoder
from dpldm.models.conditioning import ClassEmbedder
from dpldm.models.denoiser import LatentDenoiser
from dpldm.models.unet import UNetConfig, build_unet
from dpldm.training.checkpoint import sha256_file


def save_module(folder: str | Path, module: nn.Module, facts: dict[str, Any], *, name: str = "autoencoder",
                dtype: torch.dtype = torch.float32) -> None:
    """One module's weights + ``{name}.json`` (facts and the weights' sha256)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    digest = write_weights(folder / f"{name}.safetensors", module, dtype)
    (folder / f"{name}.json").write_text(json.dumps({**facts, "sha256": digest}, indent=2))


def write_weights(path: Path, module: nn.Module, dtype: torch.dtype) -> str:
    """Save a module's state dict in ``dtype`` as safetensors; returns the file's sha256."""
    save_file({k: v.detach().to(dtype).contiguous() for k, v in module.state_dict().items()}, str(path))
    return sha256_file(path)


def load_weights(path: Path, expected_sha256: str | None) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise DpldmError(f"model weights not found: {path}")
    if expected_sha256 is not None and sha256_file(path) != expected_sha256:
        raise DpldmError(f"{path}: sha256 does not match its manifest (file changed or corrupt)")
    return {k: v.float() for k, v in load_file(str(path)).items()}


def load_autoencoder(folder: str | Path) -> tuple[nn.Module, AutoencoderConfig]:
    folder = Path(folder)
    facts_path = folder / "autoencoder.json"
    if not facts_path.is_file():
        raise DpldmError(f"no autoencoder in {folder} (expected autoencoder.json and autoencoder.safetensors)")
    facts = json.loads(facts_path.read_text())
    cfg = from_dict(AutoencoderConfig, facts["autoencoder"])
    vae = build_autoencoder(cfg)
    vae.load_state_dict(load_weights(folder / "autoencoder.safetensors", facts.get("sha256")))
    return vae.eval().requires_grad_(False), cfg


@dataclass
class LatentDiffusion:
    """Everything needed to sample labelled images: frozen autoencoder, denoiser, scale factor, schedule."""

    vae: nn.Module
    denoiser: LatentDenoiser
    autoencoder_cfg: AutoencoderConfig
    unet_cfg: UNetConfig
    diffusion: DiffusionConfig
    scale_factor: float  # z_model = scale_factor * z_autoencoder (scale-by-std, so z_model has unit std)
    class_names: tuple[str, ...]
    image_size: int
    channels: int
    facts: dict[str, Any] = field(default_factory=dict)  # provenance: data, steps, privacy, ...

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        return (self.unet_cfg.latent_channels, self.unet_cfg.sample_size, self.unet_cfg.sample_size)

    @property
    def null_label(self) -> int:
        return len(self.class_names)

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Scaled latents (B, c, h, w) -> images (B, C, H, W) in [-1, 1]."""
        return self.vae.decode(z / self.scale_factor).sample.clamp(-1, 1)


def build_denoiser(unet_cfg: UNetConfig, num_classes: int) -> LatentDenoiser:
    return LatentDenoiser(build_unet(unet_cfg), ClassEmbedder(num_classes, unet_cfg.cross_attention_dim))


def save_bundle(folder: str | Path, model: LatentDiffusion, *, dtype: torch.dtype = torch.float32) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, module in (("autoencoder", model.vae), ("denoiser", model.denoiser)):
        files[f"{name}.safetensors"] = write_weights(folder / f"{name}.safetensors", module, dtype)
    facts = {
        "format": "dpldm-latent-diffusion/1",
        "autoencoder": to_dict(model.autoencoder_cfg),
        "unet": to_dict(model.unet_cfg),
        "diffusion": to_dict(model.diffusion),
        "scale_factor": model.scale_factor,
        "class_names": list(model.class_names),
        "image_size": model.image_size,
        "channels": model.channels,
        "sha256": files,
        **model.facts,
    }
    (folder / "model.json").write_text(json.dumps(facts, indent=2))
    return folder


def load_bundle(folder: str | Path) -> LatentDiffusion:
    folder = Path(folder)
    facts_path = folder / "model.json"
    if not facts_path.is_file():
        raise DpldmError(f"no model in {folder} (expected model.json beside the weights)")
    facts = json.loads(facts_path.read_text())
    ae_cfg = from_dict(AutoencoderConfig, facts["autoencoder"])
    unet_cfg = from_dict(UNetConfig, facts["unet"])
    vae = build_autoencoder(ae_cfg)
    vae.load_state_dict(load_weights(folder / "autoencoder.safetensors", facts["sha256"]["autoencoder.safetensors"]))
    denoiser = build_denoiser(unet_cfg, len(facts["class_names"]))
    denoiser.load_state_dict(load_weights(folder / "denoiser.safetensors", facts["sha256"]["denoiser.safetensors"]))
    known = {"format", "autoencoder", "unet", "diffusion", "scale_factor", "class_names", "image_size", "channels",
             "sha256"}
    return LatentDiffusion(
        vae=vae.eval().requires_grad_(False), denoiser=denoiser.eval(), autoencoder_cfg=ae_cfg, unet_cfg=unet_cfg,
        diffusion=from_dict(DiffusionConfig, facts["diffusion"]), scale_factor=float(facts["scale_factor"]),
        class_names=tuple(facts["class_names"]), image_size=int(facts["image_size"]),
        channels=int(facts["channels"]), facts={k: v for k, v in facts.items() if k not in known})
