"""Stable-Diffusion-format model folders (the diffusers layout of SD v1.x / v2.x), loaded as a ``LatentDiffusion``.

Folder layout (what ``StableDiffusionPipeline.save_pretrained`` writes)::

    model_index.json  unet/  vae/  text_encoder/  tokenizer/  scheduler/  [dpldm.json]

The UNet is diffusers' ``UNet2DConditionModel``, the same class dpldm's own models use, so the ``trainable:`` spec
(transformer blocks counted by ``dpldm.models.unet.transformer_blocks``, attention projections, LoRA) selects its
modules unchanged. The condition is a caption's token ids: the CLIP (or any Hugging Face) text encoder's states go
to the cross-attention as they are (``TextConditioner`` without a projector). The VAE's ``scaling_factor`` is the
latent scale. Only eps-prediction models are accepted (v1.x, v2.x-base): dpldm trains and samples eps.

``dpldm.json`` is what dpldm adds when it saves such a folder: the facts of ``LatentDiffusion`` (the privacy
guarantee of a fine-tuned model, the image size it was fine-tuned at, the sha256 of every file, checked on load).
Nothing is ever downloaded: every part is read with ``local_files_only``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dpldm.bundle import LatentDiffusion, sha256_file
from dpldm.config import ConfigError, from_dict
from dpldm.diffusion.schedule import DiffusionConfig
from dpldm.errors import DpldmError
from dpldm.models.conditioning import ConditioningConfig, TextConditioner
from dpldm.models.denoiser import LatentDenoiser
from dpldm.models.text_encoder import TextEncoder

PARTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
INDEX = "model_index.json"
FACTS = "dpldm.json"
FORMAT = "diffusers-sd"


def is_sd_folder(path: str | Path) -> bool:
    return (Path(path) / INDEX).is_file()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DpldmError(f"{path}: not readable JSON ({type(err).__name__})") from None
    if not isinstance(data, dict):
        raise DpldmError(f"{path}: expected a JSON object")
    return data


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != FACTS)


def _diffusion(scheduler: dict[str, Any], where: Path) -> DiffusionConfig:
    if scheduler.get("prediction_type", "epsilon") != "epsilon":
        raise DpldmError(f"{where}: prediction_type '{scheduler['prediction_type']}'; dpldm trains and samples "
                         f"eps-prediction models only (SD v1.x, v2.x-base)")
    try:
        return from_dict(DiffusionConfig, {k: scheduler[k] for k in ("num_train_timesteps", "beta_schedule",
                                                                     "beta_start", "beta_end") if k in scheduler},
                         where=str(where))
    except ConfigError as err:
        raise DpldmError(str(err)) from None


def load_sd_folder(folder: str | Path) -> LatentDiffusion:
    """The model in a Stable-Diffusion-format folder; a folder dpldm saved has its files checked against
    ``dpldm.json``'s sha256 first."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    folder = Path(folder)
    missing = [part for part in PARTS if not (folder / part).is_dir()]
    if missing:
        raise DpldmError(f"{folder}: a Stable-Diffusion-format folder needs {', '.join(PARTS)}; missing: "
                         f"{', '.join(missing)}")
    facts = _read_json(folder / FACTS) if (folder / FACTS).is_file() else {}
    for name, digest in (facts.get("sha256") or {}).items():
        path = folder / name
        if not path.is_file() or sha256_file(path) != digest:
            raise DpldmError(f"{path}: missing, or its sha256 does not match {FACTS} (file changed or corrupt)")
    scheduler = _read_json(folder / "scheduler" / "scheduler_config.json")
    diffusion = _diffusion(scheduler, folder / "scheduler" / "scheduler_config.json")
    try:
        unet = UNet2DConditionModel.from_pretrained(folder / "unet", local_files_only=True)
        vae = AutoencoderKL.from_pretrained(folder / "vae", local_files_only=True)
    except (OSError, ValueError, EnvironmentError) as err:
        raise DpldmError(f"{folder}: cannot load its unet/ or vae/ ({str(err).splitlines()[0]})") from None
    encoder = TextEncoder.from_pretrained(folder / "text_encoder", tokenizer_path=folder / "tokenizer")
    if encoder.dim != unet.config.cross_attention_dim:
        raise DpldmError(f"{folder}: the text encoder's states are {encoder.dim}-d but the UNet's cross-attention "
                         f"takes {unet.config.cross_attention_dim}-d")
    encoder.requires_grad_(False)
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    image_size = int(facts.get("image_size") or unet.config.sample_size * factor)
    kept = {k: v for k, v in facts.items() if k not in ("sha256", "image_size", "class_names", "format")}
    return LatentDiffusion(
        vae=vae.eval().requires_grad_(False), denoiser=LatentDenoiser(unet, TextConditioner(encoder)).eval(),
        autoencoder_cfg=None, unet_cfg=None, diffusion=diffusion, scale_factor=float(vae.config.scaling_factor),
        class_names=tuple(facts.get("class_names") or ()), image_size=image_size,
        channels=int(vae.config.in_channels), facts=kept,
        conditioning=ConditioningConfig(kind="text", text_encoder=str(folder / "text_encoder"),
                                        max_length=encoder.max_length),
        format=FORMAT, source={"model_index": _read_json(folder / INDEX), "scheduler": scheduler})


def save_sd_folder(folder: str | Path, model: LatentDiffusion) -> Path:
    """Write ``model`` (loaded by ``load_sd_folder``) in the same layout, with ``dpldm.json`` (facts, image size,
    sha256 of every file) beside it; the fine-tuned folder loads again with ``load_sd_folder`` or diffusers."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    conditioner = model.denoiser.conditioner
    model.denoiser.unet.save_pretrained(folder / "unet")
    model.vae.save_pretrained(folder / "vae")
    conditioner.encoder.model.save_pretrained(folder / "text_encoder")
    conditioner.encoder.tokenizer.save_pretrained(folder / "tokenizer")
    (folder / "scheduler").mkdir(exist_ok=True)
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(model.source["scheduler"], indent=2))
    (folder / INDEX).write_text(json.dumps(model.source["model_index"], indent=2))
    digests = {str(p.relative_to(folder)): sha256_file(p) for p in _files(folder)}
    facts = {"format": FORMAT, "image_size": model.image_size, "class_names": list(model.class_names),
             **model.facts, "sha256": digests}
    (folder / FACTS).write_text(json.dumps(facts, indent=2))
    return folder


# Sizes of the random-weight models ``write_random_sd_folder`` builds: "tiny" for tests (16px images, seconds on a
# CPU), "sd15" with Stable Diffusion 1.5's architecture (860M-parameter UNet, 123M text encoder), for timing.
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"unet": dict(block_out_channels=(32, 64), layers_per_block=1, attention_head_dim=4, cross_attention_dim=32,
                          norm_num_groups=8,
                          down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                          up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D")),
             "vae": dict(block_out_channels=(16, 32), layers_per_block=1, norm_num_groups=8),
             "text": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                          max_position_embeddings=16)},
    "sd15": {"unet": dict(block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, attention_head_dim=8,
                          cross_attention_dim=768, norm_num_groups=32,
                          down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                          up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3),
             "vae": dict(block_out_channels=(128, 256, 512, 512), layers_per_block=2, norm_num_groups=32),
             "text": dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                          max_position_embeddings=77, vocab_size=49408)},
}
SD_SCHEDULER = {"_class_name": "PNDMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear",
                "beta_start": 0.00085, "num_train_timesteps": 1000, "set_alpha_to_one": False, "skip_prk_steps": True,
                "steps_offset": 1, "trained_betas": None, "clip_sample": False, "prediction_type": "epsilon"}


def write_random_sd_folder(folder: str | Path, *, preset: str = "tiny", image_size: int | None = None,
                           seed: int = 0) -> Path:
    """A randomly initialised model with Stable Diffusion's classes (UNet2DConditionModel, AutoencoderKL,
    CLIPTextModel + CLIPTokenizer), saved in the SD layout; no weights are downloaded. The tokenizer's vocabulary
    is written here: lower-case letters, digits and a few marks, one token each (no merges), so it encodes any
    plain caption. image_size: the side the UNet's ``sample_size`` is set for (default: 16 tiny, 256 sd15)."""
    import string

    import diffusers
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    spec = PRESETS[preset]
    folder = Path(folder)
    levels = len(spec["vae"]["block_out_channels"])
    image_size = image_size or (16 if preset == "tiny" else 256)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(sample_size=image_size // 2 ** (levels - 1), in_channels=4, out_channels=4,
                                    **spec["unet"])
        vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, scaling_factor=0.18215,
                            down_block_types=("DownEncoderBlock2D",) * levels,
                            up_block_types=("UpDecoderBlock2D",) * levels, **spec["vae"])
        chars = list(string.ascii_lowercase + string.digits + " .,'-")
        vocab = {c: i for i, c in enumerate(chars)}
        vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
        vocab.update({"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1})
        (folder / "tokenizer").mkdir(parents=True, exist_ok=True)
        (folder / "tokenizer" / "vocab.json").write_text(json.dumps(vocab))
        (folder / "tokenizer" / "merges.txt").write_text("#version: 0.2\n")
        tokenizer = CLIPTokenizer(str(folder / "tokenizer" / "vocab.json"), str(folder / "tokenizer" / "merges.txt"),
                                  model_max_length=spec["text"]["max_position_embeddings"])
        text = dict(vocab_size=len(vocab), **spec["text"])
        encoder = CLIPTextModel(CLIPTextConfig(**text, bos_token_id=vocab["<|startoftext|>"],
                                               eos_token_id=vocab["<|endoftext|>"],
                                               pad_token_id=vocab["<|endoftext|>"]))
    unet.save_pretrained(folder / "unet")
    vae.save_pretrained(folder / "vae")
    encoder.save_pretrained(folder / "text_encoder")
    tokenizer.save_pretrained(folder / "tokenizer")
    (folder / "scheduler").mkdir(exist_ok=True)
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(SD_SCHEDULER, indent=2))
    index = {"_class_name": "StableDiffusionPipeline", "_diffusers_version": diffusers.__version__,
             "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
             "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
             "scheduler": ["diffusers", "PNDMScheduler"], "safety_checker": [None, None],
             "feature_extractor": [None, None], "requires_safety_checker": False}
    (folder / INDEX).write_text(json.dumps(index, indent=2))
    return folder
