"""Labelled synthetic images from a released model: class-balanced labels, per-image seeds, npz + PNG grid.

A text-conditional model samples ``n_per_class`` images of each of ``prompts`` instead: label i of the output is
prompt i, and the prompts stand in for the class names in ``samples.npz`` and the grid.

The sampling stage: ``SampleConfig`` (loaded like every stage's config, ``configs/sample.yaml``) and
``run_sampling(cfg)``, which `dpldm sample`, `dpldm demo` and `dpldm bench quality` all call; ``generate`` is the
lower-level loop for callers that keep the images in memory (`dpldm bench sample`).
"""

from __future__ import annotations

import math
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from tqdm import tqdm

from dpldm.bundle import LatentDiffusion
from dpldm.config import ConfigError, to_dict
from dpldm.data import from_unit_range
from dpldm.data.grid import class_grid
from dpldm.diffusion.sampling import sample_latents
from dpldm.diffusion.schedule import make_scheduler
from dpldm.errors import DpldmError
from dpldm.runsettings import check_folder, write_settings
from dpldm.training.device import check_device_name, resolve_device

SAMPLES_RECORD = "samples.yaml"  # the settings samples.npz was drawn with, beside it
# Settings that cannot change the images: the batch size and the device (each image has its own seed, drawn on
# the CPU), the output folder, and the model's path (its weights' digest is compared instead, so a moved model
# folder is the same model).
SAMPLE_RESULT_NEUTRAL = ("batch_size", "model", "device", "out_dir", "compile")
# The guidance scale the demo and the quality benchmarks sample with (chosen on the digits proxy, BENCHMARKS.md);
# they pass it explicitly. The default of SampleConfig (and of `dpldm sample`) stays 1: plain conditional sampling.
TUNED_GUIDANCE = 3.0


@dataclass
class SampleConfig:
    model: str = ""  # model folder (with model.json), or a shipped public model's name
    out_dir: str = "runs/samples"  # where samples.npz, samples.png and samples.yaml go
    n_per_class: int = 10  # images per class (class-balanced output), or per prompt for a text model
    prompts: list[str] | None = None  # text-conditional models: the captions to draw images of (label i: prompt i)
    classes: list[int] | None = None  # only these class indices (None: every class of the model)
    sampler: Literal["ddim", "ddpm", "dpmpp"] = "ddim"  # reverse process (dpmpp: DPM-Solver++ 2M, fewer steps)
    steps: int = 50  # sampler steps
    eta: float = 0.0  # DDIM eta (0: deterministic given the initial noise)
    guidance_scale: float = 1.0  # classifier-free guidance w (1: conditional only); the one default
    seed: int = 0  # image i uses seed (seed * 1_000_003 + i)
    batch_size: int = 500  # images per forward batch (bounded memory; does not change the images)
    # Clip each step's predicted z_0 to [-c, c] latent stds (None: off). An under-trained denoiser drives some
    # trajectories to latents of 3-5x the data's std, which decode to saturated black-and-white blobs; clipping
    # removes them. Off by default: with guidance it also cuts the class signal guidance adds (both measured in
    # BENCHMARKS.md and the README).
    clip_latents: float | None = None
    # Where the denoiser and autoencoder run: auto (CUDA when present), cpu or cuda. The per-image noise is drawn
    # on the CPU either way, so the device does not choose the images (up to float rounding).
    device: str = "auto"  # auto, cpu, cuda or cuda:N (see dpldm.training.device)
    # torch.compile the denoiser (inductor, weights frozen as constants): faster steps after minutes of compiling
    # (BENCHMARKS.md, "Performance"), worth it for thousands of images. Images agree with eager ones to float
    # rounding (tests/test_sample_stage.py), so it is result-neutral.
    compile: bool = False

    def validate(self) -> None:
        if not self.out_dir:
            raise ValueError("out_dir must name a folder")
        if self.n_per_class < 1 or self.steps < 1 or self.batch_size < 1:
            raise ValueError("n_per_class, steps and batch_size must be positive")
        if not math.isfinite(self.guidance_scale):  # NaN or inf guidance gives NaN latents: black images
            raise ValueError(f"guidance scale must be a finite number, got {self.guidance_scale}")
        if not 0.0 <= self.eta <= 1.0:  # DDIM's eta interpolates between deterministic (0) and DDPM's noise (1)
            raise ValueError(f"eta must be in [0, 1], got {self.eta}")
        if self.prompts is not None and not (self.prompts and all(isinstance(p, str) for p in self.prompts)):
            raise ValueError("prompts must be a non-empty list of captions, or null")
        if self.clip_latents is not None and not self.clip_latents > 0:
            raise ValueError(f"clip_latents must be positive or None, got {self.clip_latents}")
        if self.clip_latents is not None and self.sampler == "dpmpp":
            raise ValueError("clip_latents works with the ddim and ddpm samplers, not dpmpp")
        check_device_name(self.device)


def check_request(model: LatentDiffusion, labels: np.ndarray, cfg: SampleConfig) -> None:
    """Refuse, before any work, settings that would fail halfway or give NaN (black) images; one-line errors."""
    try:
        cfg.validate()
    except ValueError as err:
        raise ConfigError(f"sampling: {err}") from None
    if not len(labels):
        raise DpldmError("nothing to sample: no labels were asked for")
    # DDIM and DPM-Solver++ space their steps from t = 1 ("leading", offset 1), so they take at most T - 1.
    steps = model.diffusion.num_train_timesteps - (cfg.sampler != "ddpm")
    if cfg.steps > steps:
        raise DpldmError(f"{cfg.steps} sampler steps but {cfg.sampler} on a model of "
                         f"{model.diffusion.num_train_timesteps} diffusion timesteps takes at most {steps}")
    classes = len(output_names(model, cfg))
    outside = labels[(labels < 0) | (labels >= classes)]
    if len(outside):
        raise DpldmError(f"class {int(outside[0])} is not one of the model's {classes} classes (0..{classes - 1})")


def class_balanced_labels(num_classes: int, n_per_class: int) -> np.ndarray:
    """[0]*n, [1]*n, ... as int64 (N = num_classes * n_per_class)."""
    return np.repeat(np.arange(num_classes, dtype=np.int64), n_per_class)


def image_seeds(seed: int, n: int) -> np.ndarray:
    return seed * 1_000_003 + np.arange(n, dtype=np.int64)


def load_for_sampling(cfg: SampleConfig, model: LatentDiffusion | None = None) -> LatentDiffusion:
    """``cfg.model`` loaded (unless ``model`` is given already loaded), its denoiser and autoencoder moved to
    ``cfg.device``; the device is checked first, so a missing CUDA fails before any loading."""
    from dpldm.public_models import resolve_model

    device = resolve_device(cfg.device)
    if model is None:
        if not cfg.model:
            raise ConfigError("sampling: no model; pass --model, or set model in the config")
        model = resolve_model(cfg.model)
    model.vae.to(device)
    model.denoiser.to(device)
    return model


def output_names(model: LatentDiffusion, cfg: SampleConfig) -> tuple[str, ...]:
    """What the output's labels name: the prompts of a text model, the class names of a class-conditional one."""
    if model.text:
        if not cfg.prompts:
            raise DpldmError("this model is text-conditional: pass --prompt TEXT or --prompts FILE (config: prompts)")
        return tuple(cfg.prompts)
    if cfg.prompts:
        raise DpldmError("this model is class-conditional: it takes --classes, not prompts")
    return tuple(model.class_names)


def sample_labels(model: LatentDiffusion, cfg: SampleConfig) -> np.ndarray:
    """Class-balanced labels of ``cfg`` (only ``cfg.classes`` when given), checked against the model's classes;
    for a text model, ``n_per_class`` of each prompt's index."""
    if model.text and cfg.classes is not None:
        raise DpldmError("this model is text-conditional: choose prompts, not --classes")
    num_classes = len(output_names(model, cfg))
    outside = [c for c in cfg.classes or () if not 0 <= c < num_classes]
    if outside:
        raise DpldmError(f"--classes {outside[0]} (config key classes): the model has {num_classes} classes, "
                         f"numbered 0..{num_classes - 1}")
    labels = class_balanced_labels(num_classes, cfg.n_per_class)
    return labels if cfg.classes is None else labels[np.isin(labels, cfg.classes)]


def run_sampling(cfg: SampleConfig, *, model: LatentDiffusion | None = None, parts_dir: str | Path | None = None,
                 part_size: int = 5000, progress: bool = True) -> dict[str, Any]:
    """The sampling stage: resolve the model (``cfg.model``, unless ``model`` is given already loaded), check the
    request and the output folder before any work, generate on ``cfg.device``, save to ``cfg.out_dir``.

    parts_dir: save the images in parts there as they are made, so an interrupted run resumes
    (``generate_in_parts``). Returns a summary: images, images_per_s (None when every part was done earlier),
    npz, grid.
    """
    from dpldm.writable import writable_folder

    model = load_for_sampling(cfg, model)
    labels = sample_labels(model, cfg)
    settings = sample_settings(cfg.model, model, cfg, cfg.classes)
    check_sample_folder(cfg.out_dir, settings)
    check_request(model, labels, cfg)  # steps, guidance ... before any image is made
    writable_folder(cfg.out_dir)
    seeds = image_seeds(cfg.seed, len(labels))
    if parts_dir is None:
        images, rate = generate(model, labels, seeds, cfg, progress=progress)
    else:
        images, rate = generate_in_parts(model, labels, seeds, cfg, parts_dir, part_size=part_size,
                                         progress=progress)
    npz, png = save_samples(cfg.out_dir, images, labels, output_names(model, cfg), settings=settings)
    return {"images": len(images), "images_per_s": None if rate is None else round(rate, 2), "npz": str(npz),
            "grid": str(png), "device": next(model.denoiser.parameters()).device.type}


_COMPILED: "weakref.WeakKeyDictionary[torch.nn.Module, torch.nn.Module]" = weakref.WeakKeyDictionary()


def compiled(denoiser: torch.nn.Module) -> torch.nn.Module:
    """``denoiser`` compiled for inference (once per module and process; inductor also caches its kernels on disk,
    so a later process compiles faster). Freezing folds the weights into the graph as constants, which lets
    inductor pre-pack them and fuse the bias and activation into each matrix product: most of the gain on a CPU."""
    if denoiser not in _COMPILED:
        _COMPILED[denoiser] = torch.compile(denoiser, options={"freezing": True})
    return _COMPILED[denoiser]


@torch.no_grad()
def generate(model: LatentDiffusion, labels: np.ndarray, seeds: np.ndarray, cfg: SampleConfig, *,
             progress: bool = True) -> tuple[np.ndarray, float]:
    """-> (uint8 images (N, H, W) or (N, H, W, 3), images per second)."""
    check_request(model, labels, cfg)
    scheduler = make_scheduler(model.diffusion, cfg.sampler, clip_latents=cfg.clip_latents)
    model.denoiser.eval()
    out = []
    start = time.time()
    bar = tqdm(total=len(labels), disable=not progress, desc="sample", unit="img")
    device = next(model.denoiser.parameters()).device  # run_sampling moved the model to cfg.device
    denoiser = compiled(model.denoiser) if cfg.compile else model.denoiser
    conditioner = model.denoiser.conditioner
    prompt_ids = conditioner.tokenize(cfg.prompts).to(device) if model.text else None
    for i in range(0, len(labels), cfg.batch_size):
        y = torch.from_numpy(labels[i:i + cfg.batch_size]).to(device)
        if prompt_ids is not None:  # label k is prompt k: its token ids are the condition
            y = prompt_ids[y]
        null = conditioner.null_like(y)
        z = sample_latents(denoiser, scheduler, y, seeds[i:i + cfg.batch_size].tolist(),
                           latent_shape=model.latent_shape, steps=cfg.steps, guidance_scale=cfg.guidance_scale,
                           null_cond=null, eta=cfg.eta)
        out.append(from_unit_range(model.decode(z)))
        bar.update(len(y))
    bar.close()
    rate = len(labels) / max(time.time() - start, 1e-9)
    return np.concatenate(out), rate


def sample_settings(model_ref: str | Path, model: LatentDiffusion, cfg: SampleConfig,
                    classes: list[int] | None = None) -> dict[str, Any]:
    """What a set of samples depends on, for ``samples.yaml``: the model's weights (by digest), the sampler's
    settings and the classes drawn (``classes``, else ``cfg.classes``)."""
    from dpldm.training.latents import module_digest

    classes = cfg.classes if classes is None else classes
    return {**to_dict(cfg), "model": str(model_ref),
            "model_weights": module_digest(torch.nn.ModuleList([model.vae, model.denoiser])),
            "classes": None if classes is None else sorted({int(c) for c in classes})}


def check_sample_folder(out_dir: str | Path, settings: dict[str, Any]) -> None:
    """Refuse to replace samples drawn with other settings (``dpldm.runsettings``): their metrics would be paired
    with the new images. Writes nothing."""
    out_dir = Path(out_dir)
    if (out_dir / "samples.npz").is_file() and not (out_dir / SAMPLES_RECORD).is_file():
        raise DpldmError(f"{out_dir / 'samples.npz'} exists and no {SAMPLES_RECORD} beside it says how it was "
                         f"sampled; use another --out, or remove it")
    check_folder(out_dir, SAMPLES_RECORD, settings, ignore=SAMPLE_RESULT_NEUTRAL, what="samples")


def save_samples(out_dir: str | Path, images: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...],
                 *, settings: dict[str, Any] | None = None, max_classes: int = 50,
                 per_row: int = 10) -> tuple[Path, Path]:
    """Write ``samples.npz`` (uint8 images, int64 labels, class names), ``samples.png`` (one row per class, named
    under it) and, given the ``settings`` they were drawn with (``sample_settings``), ``samples.yaml`` last."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    npz = out_dir / "samples.npz"
    tmp = out_dir / "samples.tmp.npz"
    np.savez_compressed(tmp, images=images, labels=labels, class_names=np.array(class_names))
    tmp.replace(npz)
    png = out_dir / "samples.png"
    class_grid(images, labels, class_names, max_classes=max_classes, per_row=per_row).save(png, format="PNG")
    if settings is not None:
        write_settings(out_dir / SAMPLES_RECORD, settings)
    return npz, png


def generate_in_parts(model: LatentDiffusion, labels: np.ndarray, seeds: np.ndarray, cfg: SampleConfig,
                      parts_dir: str | Path, *, part_size: int = 5000,
                      progress: bool = True) -> tuple[np.ndarray, float | None]:
    """``generate``, saving each part of ``part_size`` images to ``parts_dir`` as soon as it is done.

    A rerun after an interruption loads the finished parts and samples only the rest; since an image depends only
    on its seed and label, the result equals one uninterrupted call. A part written for other labels or seeds is
    an error, not silently reused. Returns (images, images per second of the parts sampled now, or None).
    """
    parts_dir = Path(parts_dir)
    parts_dir.mkdir(parents=True, exist_ok=True)
    out, sampled, seconds = [], 0, 0.0
    for start in range(0, len(labels), part_size):
        stop = min(start + part_size, len(labels))
        path = parts_dir / f"part-{start:07d}-{stop:07d}.npz"
        if path.is_file():
            try:
                with np.load(path) as part:
                    part_labels, part_seeds, part_images = part["labels"], part["seeds"], part["images"]
            except Exception as err:  # BadZipFile, KeyError, ValueError, EOFError ... from a damaged file
                raise DpldmError(f"{path}: unreadable part ({type(err).__name__}); remove it to sample it "
                                 f"again") from None
            if not (np.array_equal(part_labels, labels[start:stop]) and np.array_equal(part_seeds, seeds[start:stop])):
                raise DpldmError(f"{path} holds other labels or seeds than this run asks for; remove "
                                 f"{parts_dir} to sample afresh")
            out.append(part_images)
            continue
        began = time.time()
        images, _ = generate(model, labels[start:stop], seeds[start:stop], cfg, progress=progress)
        seconds += time.time() - began
        sampled += stop - start
        tmp = path.with_name(path.stem + ".tmp.npz")
        np.savez(tmp, images=images, labels=labels[start:stop], seeds=seeds[start:stop])
        tmp.replace(path)
        out.append(images)
    return np.concatenate(out), (sampled / seconds if sampled else None)
