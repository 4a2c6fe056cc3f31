"""Sampling speed (images per second) of a model at its native size: the numbers of `dpldm bench sample`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dpldm.bench.flops import count_flops, efficiency, peak_flops


@dataclass
class SamplingBenchSettings:
    model: str = "omniglot"  # model folder or shipped model name
    n: int = 500  # images to sample, class-balanced
    sampler: str = "ddim"  # ddim, ddpm or dpmpp
    steps: int = 50  # sampler steps
    batch_size: int = 500  # images per batch
    guidance: float = 1.0  # guidance scale (1: no extra pass)
    clip_latents: float | None = None  # sampler's clip of the predicted clean latent (SampleConfig); None: off
    device: str = "cpu"  # auto, cpu or cuda; the peak share is of this CPU's peak


def run_sampling_bench(settings: SamplingBenchSettings) -> dict[str, Any]:
    """Sample ``settings.n`` images and return images per second (latent sampling + decoding), the FLOPs per image
    (torch's FLOP counter) and their share of this CPU's peak (a large sgemm, measured in the same run)."""
    import numpy as np
    import torch

    from dpldm.synthesis import SampleConfig, generate, image_seeds, load_for_sampling

    # The sampling stage's model set-up; the images stay in memory (only the speed is measured), so `generate`.
    cfg = SampleConfig(model=settings.model, sampler=settings.sampler, steps=settings.steps,
                       batch_size=settings.batch_size, guidance_scale=settings.guidance,
                       clip_latents=settings.clip_latents, device=settings.device)
    model = load_for_sampling(cfg)
    labels = np.arange(settings.n, dtype=np.int64) % len(model.class_names)
    _, rate = generate(model, labels, image_seeds(0, settings.n), cfg, progress=False)
    # FLOPs per image, counted on a small batch of the same sampler (they do not depend on the batch size).
    probe = min(settings.n, 10)
    flops = count_flops(lambda: generate(model, labels[:probe], image_seeds(0, probe), cfg, progress=False)) / probe
    result = {"model": settings.model, "image_size": model.image_size, "images": settings.n,
              "sampler": settings.sampler, "steps": settings.steps,
              "batch_size": settings.batch_size, "guidance": settings.guidance,
              "clip_latents": settings.clip_latents, "device": next(model.denoiser.parameters()).device.type,
              "threads": torch.get_num_threads(),
              "images_per_s": round(rate, 2), "peak_gflop_per_s": round(peak_flops() / 1e9, 1)}
    result.update(efficiency(int(flops * rate), 1.0, result["peak_gflop_per_s"] * 1e9))
    result["gflop_per_image"] = round(flops / 1e9, 4)
    del result["gflop"]  # per second of sampling, not per image: the line above names it
    return result
