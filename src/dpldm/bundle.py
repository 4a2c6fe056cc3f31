"""A released latent diffusion model on disk: autoencoder + denoiser weights (safetensors) and one JSON of facts.

Folder layout:
    autoencoder.safetensors  denoiser.safetensors  model.json
``model.json`` holds the configs needed to rebuild both modules, the latent scale factor, the class names, the
sha256 of each weights file (checked on load), and, for fine-tuned models, the privacy guarantee.
"""

from __future__ import annotations

import hashlib
import json
import math
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


def save_module(folder: str | Path, module: nn.Module, facts: dict[str, Any], *, name: str = "autoencoder",
                dtype: torch.dtype = torch.float32) -> None:
    """One module's weights + ``{name}.json`` (facts and the weights' sha256)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    digest = write_weights(folder / f"{name}.safetensors", module, dtype)
    (folder / f"{name}.json").write_text(json.dumps({**facts, "sha256": digest}, indent=2))


def sha256_file(path: str | Path) -> str:
    """The hex sha256 of a file's bytes."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_weights(path: Path, module: nn.Module, dtype: torch.dtype) -> str:
    """Save a module's state dict in ``dtype`` as safetensors; returns the file's sha256."""
    save_file({k: v.detach().to(dtype).contiguous() for k, v in module.state_dict().items()}, str(path))
    return sha256_file(path)


def load_weights(path: Path, expected_sha256: str) -> dict[str, torch.Tensor]:
    """The float32 tensors of ``path``, once its sha256 matches and every value is finite."""
    if not path.is_file():
        raise DpldmError(f"model weights not found: {path}")
    if sha256_file(path) != expected_sha256:
        raise DpldmError(f"{path}: sha256 does not match its manifest (file changed or corrupt)")
    try:
        tensors = {k: v.float() for k, v in load_file(str(path)).items()}
    except Exception as err:  # SafetensorError and friends: the file is not what its sha256 was taken of
        raise DpldmError(f"{path}: not readable weights ({type(err).__name__})") from None
    bad = next((k for k, v in tensors.items() if not bool(torch.isfinite(v).all())), None)
    if bad is not None:  # such a model samples black images
        raise DpldmError(f"{path}: weight '{bad}' holds NaN or infinite values; retrain or re-export the model")
    return tensors


def read_facts(path: Path, required: tuple[str, ...]) -> dict[str, Any]:
    """A model's JSON facts, with every ``required`` key present; anything else is a one-line DpldmError."""
    try:
        facts = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DpldmError(f"{path}: not valid JSON ({type(err).__name__})") from None
    if not isinstance(facts, dict):
        raise DpldmError(f"{path}: expected a JSON object of model facts")
    missing = [key for key in required if key not in facts]
    if missing:
        raise DpldmError(f"{path}: no '{missing[0]}' entry; the folder was not written by dpldm, or was edited")
    return facts


def load_state(module: nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    """``module.load_state_dict`` with a mismatch reported as one line naming the weights file."""
    try:
        module.load_state_dict(tensors)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[1:2] or [""]
        raise DpldmError(f"{path}: weights do not fit the model its JSON describes ({first[0].strip()})") from None


def _sha256_of(facts: dict[str, Any], name: str, path: Path) -> str:
    digest = facts["sha256"].get(name) if isinstance(facts["sha256"], dict) else None
    if not isinstance(digest, str):
        raise DpldmError(f"{path}: no sha256 of {name}; refusing to load unchecked weights")
    return digest


def load_autoencoder(folder: str | Path) -> tuple[nn.Module, AutoencoderConfig]:
    folder = Path(folder)
    facts_path = folder / "autoencoder.json"
    if not facts_path.is_file():
        raise DpldmError(f"no autoencoder in {folder} (expected autoencoder.json and autoencoder.safetensors)")
    facts = read_facts(facts_path, ("autoencoder", "sha256"))
    if not isinstance(facts["sha256"], str):
        raise DpldmError(f"{facts_path}: 'sha256' must be the sha256 of autoencoder.safetensors")
    cfg = from_dict(AutoencoderConfig, facts["autoencoder"], where="autoencoder")
    vae = build_autoencoder(cfg)
    weights = folder / "autoencoder.safetensors"
    load_state(vae, load_weights(weights, facts["sha256"]), weights)
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
    known = ("format", "autoencoder", "unet", "diffusion", "scale_factor", "class_names", "image_size", "channels",
             "sha256")
    facts = read_facts(facts_path, known[1:])
    ae_cfg = from_dict(AutoencoderConfig, facts["autoencoder"], where="autoencoder")
    unet_cfg = from_dict(UNetConfig, facts["unet"], where="unet")
    diffusion = from_dict(DiffusionConfig, facts["diffusion"], where="diffusion")
    class_names = facts["class_names"]
    if not (isinstance(class_names, list) and class_names and all(isinstance(c, str) for c in class_names)):
        raise DpldmError(f"{facts_path}: 'class_names' must be a non-empty list of names")
    try:
        scale_factor, image_size, channels = (float(facts["scale_factor"]), int(facts["image_size"]),
                                              int(facts["channels"]))
    except (TypeError, ValueError):
        raise DpldmError(f"{facts_path}: 'scale_factor', 'image_size' and 'channels' must be numbers") from None
    if not (math.isfinite(scale_factor) and scale_factor > 0):
        raise DpldmError(f"{facts_path}: 'scale_factor' must be a positive number, got {scale_factor}")
    vae = build_autoencoder(ae_cfg)
    denoiser = build_denoiser(unet_cfg, len(class_names))
    for module, name in ((vae, "autoencoder.safetensors"), (denoiser, "denoiser.safetensors")):
        load_state(module, load_weights(folder / name, _sha256_of(facts, name, facts_path)), folder / name)
    return LatentDiffusion(
        vae=vae.eval().requires_grad_(False), denoiser=denoiser.eval(), autoencoder_cfg=ae_cfg, unet_cfg=unet_cfg,
        diffusion=diffusion, scale_factor=scale_factor, class_names=tuple(class_names), image_size=image_size,
        channels=channels, facts={k: v for k, v in facts.items() if k not in known})
