"""A released latent diffusion model on disk: autoencoder + denoiser weights (safetensors) and one JSON of facts.

Folder layout:
    autoencoder.safetensors  denoiser.safetensors  model.json  [public_hashes.npy]
``model.json`` holds the configs needed to rebuild both modules (with the conditioning: class labels, or captions
through a named text encoder), the latent scale factor, the class names, the
sha256 of each file (checked on load), and, for fine-tuned models, the privacy guarantee. ``public_hashes.npy`` is
the fingerprint of the public training data (``dpldm.data.fingerprint``); models trained before it have none.

Stable-Diffusion-format folders (diffusers layout) load into the same ``LatentDiffusion``: see ``dpldm.sd_folder``.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from dpldm.config import from_dict, to_dict
from dpldm.diffusion.schedule import DiffusionConfig
from dpldm.errors import DpldmError
from dpldm.models.autoencoder import AutoencoderConfig, build_autoencoder
from dpldm.models.conditioning import ClassEmbedder, ConditioningConfig, build_text_conditioner
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


PUBLIC_HASHES = "public_hashes.npy"  # the public training data's fingerprint, beside the weights


def write_hashes(path: Path, hashes: np.ndarray) -> str:
    """Save a fingerprint (uint64 hashes) as .npy; returns the file's sha256."""
    np.save(path, np.asarray(hashes, dtype="<u8"), allow_pickle=False)
    return sha256_file(path)


def read_hashes(path: Path, expected_sha256: str) -> np.ndarray:
    """The fingerprint in ``path``, once its sha256 matches and it holds a flat array of uint64."""
    if not path.is_file():
        raise DpldmError(f"public data fingerprint not found: {path}")
    if sha256_file(path) != expected_sha256:
        raise DpldmError(f"{path}: sha256 does not match its manifest (file changed or corrupt)")
    try:
        hashes = np.load(path, allow_pickle=False)
    except ValueError as err:
        raise DpldmError(f"{path}: not a readable .npy array ({type(err).__name__})") from None
    if hashes.dtype != np.uint64 or hashes.ndim != 1:
        raise DpldmError(f"{path}: expected a flat array of uint64 hashes, got {hashes.dtype} {hashes.shape}")
    return hashes


def write_weights(path: Path, module: nn.Module, dtype: torch.dtype, *, skip: str | None = None) -> str:
    """Save a module's state dict in ``dtype`` as safetensors (but the keys starting with ``skip``); returns the
    file's sha256."""
    save_file({k: v.detach().to(dtype).contiguous() for k, v in module.state_dict().items()
               if skip is None or not k.startswith(skip)}, str(path))
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


def source_encoder(denoiser: nn.Module, recorded: Any, path: Path) -> dict[str, torch.Tensor]:
    """The text encoder's weights as ``build_denoiser`` loaded them from the source, once they are the ones the
    model was trained with (the digest in model.json)."""
    state = encoder_state(denoiser)
    if not isinstance(recorded, dict) or state_digest(state) != recorded.get("sha256"):
        raise DpldmError(f"{path}: the text encoder installed here differs from the one this model was trained with "
                         f"(weights digest); install the version it names, or use a model that bundles its encoder")
    return state


def _sha256_of(facts: dict[str, Any], name: str, path: Path) -> str:
    digest = facts["sha256"].get(name) if isinstance(facts["sha256"], dict) else None
    if not isinstance(digest, str):
        raise DpldmError(f"{path}: no sha256 of {name}; refusing to load unchecked weights")
    return digest


def save_autoencoder(folder: str | Path, vae: nn.Module, cfg: AutoencoderConfig, public_hashes: np.ndarray) -> None:
    """The trained autoencoder alone: weights, ``autoencoder.json`` and the fingerprint of its public data."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    digest = write_hashes(folder / PUBLIC_HASHES, public_hashes)
    save_module(folder, vae, {"autoencoder": to_dict(cfg),
                              "public_hashes": {"sha256": digest, "images": len(public_hashes)}})


def load_autoencoder_hashes(folder: str | Path) -> np.ndarray | None:
    """The fingerprint of an autoencoder's public training data; None for one saved before fingerprints."""
    folder = Path(folder)
    entry = read_facts(folder / "autoencoder.json", ("autoencoder", "sha256")).get("public_hashes")
    if entry is None:
        return None
    if not (isinstance(entry, dict) and isinstance(entry.get("sha256"), str)):
        raise DpldmError(f"{folder / 'autoencoder.json'}: 'public_hashes' must hold the sha256 of {PUBLIC_HASHES}")
    return read_hashes(folder / PUBLIC_HASHES, entry["sha256"])


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
    autoencoder_cfg: AutoencoderConfig | None  # None for a Stable-Diffusion-format model (its own configs)
    unet_cfg: UNetConfig | None
    diffusion: DiffusionConfig
    scale_factor: float  # z_model = scale_factor * z_autoencoder (scale-by-std, so z_model has unit std)
    class_names: tuple[str, ...]
    image_size: int
    channels: int
    facts: dict[str, Any] = field(default_factory=dict)  # provenance: data, steps, privacy, ...
    public_hashes: np.ndarray | None = None  # fingerprint of the public training data; None: not recorded
    conditioning: ConditioningConfig = field(default_factory=ConditioningConfig)  # class labels or captions
    format: str = "dpldm"  # the folder format it was loaded from and is saved in: "dpldm" or "diffusers-sd"
    source: dict[str, Any] = field(default_factory=dict)  # format-specific settings kept for saving (SD folders)

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        side = self.image_size // 2 ** (len(self.vae.config.block_out_channels) - 1)
        return (int(self.denoiser.unet.config.in_channels), side, side)

    @property
    def text(self) -> bool:
        """Whether the model is conditioned on captions (token ids) rather than class labels."""
        return self.conditioning.kind == "text"

    @property
    def null_label(self) -> int:
        return len(self.class_names)

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Scaled latents (B, c, h, w) -> images (B, C, H, W) in [-1, 1]."""
        return self.vae.decode(z / self.scale_factor).sample.clamp(-1, 1)


def build_denoiser(unet_cfg: UNetConfig, num_classes: int,
                   conditioning: ConditioningConfig | None = None) -> LatentDenoiser:
    """A fresh UNet with a class embedder, or (``conditioning.kind == "text"``) the named frozen text encoder and a
    fresh projector to the UNet's context width."""
    if conditioning is not None and conditioning.kind == "text":
        return LatentDenoiser(build_unet(unet_cfg), build_text_conditioner(conditioning, unet_cfg.cross_attention_dim))
    return LatentDenoiser(build_unet(unet_cfg), ClassEmbedder(num_classes, unet_cfg.cross_attention_dim))


# A text model's frozen encoder is not written into denoiser.safetensors when its weights are those of its named
# source (the offline MiniLM package, a local folder): the folder would be mostly a copy of the encoder (97 of 100 MB
# for the text benchmark's model). model.json records the digest of those weights instead, and loading rebuilds the
# encoder from the source and refuses one whose weights differ. An encoder fine-tuned under DP is bundled as it is.
TEXT_ENCODER_PREFIX = "conditioner.encoder."


def state_digest(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 of named tensors (names and float32 values, in name order)."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        h.update(name.encode())
        h.update(tensors[name].detach().float().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


def encoder_state(denoiser: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v for k, v in denoiser.state_dict().items() if k.startswith(TEXT_ENCODER_PREFIX)}


def source_encoder_digest(conditioning: ConditioningConfig) -> str:
    """The digest of the text encoder's weights as its source holds them (loaded afresh)."""
    fresh = build_text_conditioner(conditioning, 1).encoder
    return state_digest({TEXT_ENCODER_PREFIX + k: v for k, v in fresh.state_dict().items()})


def save_bundle(folder: str | Path, model: LatentDiffusion, *, dtype: torch.dtype = torch.float32) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files, encoder, from_source = {}, {}, False
    if model.text:
        digest = state_digest(encoder_state(model.denoiser))
        from_source = digest == source_encoder_digest(model.conditioning)  # whatever dtype the rest is saved in
        encoder = {"text_encoder_weights": {"from": "source" if from_source else "bundled", "sha256": digest}}
    for name, module in (("autoencoder", model.vae), ("denoiser", model.denoiser)):
        skip = TEXT_ENCODER_PREFIX if name == "denoiser" and from_source else None
        files[f"{name}.safetensors"] = write_weights(folder / f"{name}.safetensors", module, dtype, skip=skip)
    if model.public_hashes is not None:
        files[PUBLIC_HASHES] = write_hashes(folder / PUBLIC_HASHES, model.public_hashes)
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
        **({"conditioning": to_dict(model.conditioning)} if model.text else {}),
        **encoder,
        **{k: v for k, v in model.facts.items() if k != "text_encoder_weights"},
    }
    (folder / "model.json").write_text(json.dumps(facts, indent=2))
    return folder


def load_bundle(folder: str | Path) -> LatentDiffusion:
    folder = Path(folder)
    facts_path = folder / "model.json"
    if not facts_path.is_file():
        raise DpldmError(f"no model in {folder} (expected model.json beside the weights)")
    required = ("autoencoder", "unet", "diffusion", "scale_factor", "class_names", "image_size", "channels", "sha256")
    known = ("format", *required, "conditioning", "text_encoder_weights")
    facts = read_facts(facts_path, required)
    ae_cfg = from_dict(AutoencoderConfig, facts["autoencoder"], where="autoencoder")
    unet_cfg = from_dict(UNetConfig, facts["unet"], where="unet")
    diffusion = from_dict(DiffusionConfig, facts["diffusion"], where="diffusion")
    conditioning = from_dict(ConditioningConfig, facts.get("conditioning") or {}, where="conditioning")
    class_names = facts["class_names"]
    if not (isinstance(class_names, list) and (class_names or conditioning.kind == "text")
            and all(isinstance(c, str) for c in class_names)):
        raise DpldmError(f"{facts_path}: 'class_names' must be a non-empty list of names")
    try:
        scale_factor, image_size, channels = (float(facts["scale_factor"]), int(facts["image_size"]),
                                              int(facts["channels"]))
    except (TypeError, ValueError):
        raise DpldmError(f"{facts_path}: 'scale_factor', 'image_size' and 'channels' must be numbers") from None
    if not (math.isfinite(scale_factor) and scale_factor > 0):
        raise DpldmError(f"{facts_path}: 'scale_factor' must be a positive number, got {scale_factor}")
    vae = build_autoencoder(ae_cfg)
    denoiser = build_denoiser(unet_cfg, len(class_names), conditioning)
    for module, name in ((vae, "autoencoder.safetensors"), (denoiser, "denoiser.safetensors")):
        tensors = load_weights(folder / name, _sha256_of(facts, name, facts_path))
        if module is denoiser and (facts.get("text_encoder_weights") or {}).get("from") == "source":
            tensors = {**source_encoder(denoiser, facts["text_encoder_weights"], facts_path), **tensors}
        load_state(module, tensors, folder / name)
    has_hashes = isinstance(facts["sha256"], dict) and PUBLIC_HASHES in facts["sha256"]
    hashes = read_hashes(folder / PUBLIC_HASHES, _sha256_of(facts, PUBLIC_HASHES, facts_path)) if has_hashes else None
    return LatentDiffusion(
        vae=vae.eval().requires_grad_(False), denoiser=denoiser.eval(), autoencoder_cfg=ae_cfg, unet_cfg=unet_cfg,
        diffusion=diffusion, scale_factor=scale_factor, class_names=tuple(class_names), image_size=image_size,
        channels=channels, facts={k: v for k, v in facts.items() if k not in known}, public_hashes=hashes,
        conditioning=conditioning)
