"""The cost of a DP-SGD step against a non-private one, and attention-only against full (`dpldm bench dp-step`).

All numbers come from one process on the same model, batch and trainable set, as the median of several steps
after warm-up, so their ratios are meaningful on a noisy machine.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

import torch

from dpldm.bench.flops import count_flops, efficiency, peak_flops


@dataclass
class DpStepSettings:
    batch_size: int = 128  # examples per step
    repeats: int = 5  # timed steps per variant (after one warm-up)
    from_block: int = 8  # first trained transformer block
    threads: int = 0  # torch threads (0: torch's default)
    model: str | None = None  # a shipped model's name or a model folder; None: a random Omniglot-shaped UNet
    profile: int = 0  # K > 0: also profile the DP step and list the K operators taking most of its time


def median_time(step, repeats: int) -> float:
    return interleaved_medians([step], repeats)[0]


def interleaved_medians(steps: list, repeats: int) -> list[float]:
    """Median seconds of each step, timed in turns (a, b, c, a, b, c, ...) after one warm-up each, so a drift in
    the machine's speed falls on every variant alike."""
    for step in steps:
        step()
    times: list[list[float]] = [[] for _ in steps]
    for _ in range(repeats):
        for step, record in zip(steps, times):
            start = time.perf_counter()
            step()
            record.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def run_dp_step(settings: DpStepSettings) -> tuple[dict[str, Any], str | None]:
    """Time one logical step (batch B): non-private and DP-SGD on the same attention-only trainable set, a DP-SGD
    step of the whole UNet, and encoding the batch (what the latent cache saves). Returns the medians, ratios,
    rates and FLOPs; and with ``settings.profile`` the profiler's table of the DP step's costliest operators."""
    from dpldm.bundle import build_denoiser
    from dpldm.diffusion.loss import draw_t_and_noise, eps_loss
    from dpldm.diffusion.schedule import DiffusionConfig, train_scheduler
    from dpldm.dp.gradient import PrivateGradient
    from dpldm.dp.randomness import SecretRandom
    from dpldm.finetune.trainable import TrainableSpec, count_params, select_trainable
    from dpldm.models.unet import UNetConfig

    if settings.threads:
        torch.set_num_threads(settings.threads)
    torch.manual_seed(0)
    if settings.model:
        from dpldm.public_models import resolve_model

        model = resolve_model(settings.model)
        unet_cfg, num_classes, latent_shape = model.unet_cfg, len(model.class_names), model.latent_shape
        weights = model.denoiser.state_dict()
    else:
        unet_cfg = UNetConfig(sample_size=7, latent_channels=3, block_out_channels=(32, 64), attention_head_dim=16,
                              cross_attention_dim=64)
        num_classes, latent_shape, weights = 10, (3, 7, 7), None
    schedule = train_scheduler(DiffusionConfig())
    B = settings.batch_size
    data = {"latents": torch.randn(B, *latent_shape), "labels": torch.randint(0, num_classes, (B,))}
    indices = torch.arange(B)

    def loss_fn(module, batch, generator):
        t, noise = draw_t_and_noise(batch["latents"], 1000, generator)
        return eps_loss(module, batch["latents"], batch["labels"], t=t, noise=noise, schedule=schedule)

    def variant(spec: TrainableSpec, private: bool):
        """-> (one training step, trainable parameter count)."""
        denoiser = build_denoiser(unet_cfg, num_classes).train()
        if weights is not None:
            denoiser.load_state_dict(weights)
        select_trainable(denoiser, spec)
        params = [p for p in denoiser.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-4)
        gen, noise = torch.Generator().manual_seed(1), SecretRandom()  # the default: secret noise
        if private:
            grad = PrivateGradient(denoiser, loss_fn, max_grad_norm=1.0, noise_multiplier=1.0,
                                   expected_batch_size=B, max_physical_batch=B)

            def step():
                for p, g in zip(grad.params, grad(data, indices, generator=gen, noise=noise)):
                    p.grad = g
                opt.step()
        else:
            def step():
                opt.zero_grad(set_to_none=True)
                loss_fn(denoiser, data, gen).mean().backward()
                opt.step()
        return step, count_params(denoiser, trainable_only=True)

    # Latent caching: what encoding the batch with the frozen autoencoder would add to every step without the cache.
    from dpldm.models.autoencoder import AutoencoderConfig, build_autoencoder, encode_mean

    vae = build_autoencoder(AutoencoderConfig(block_out_channels=(16, 32, 64), norm_num_groups=16)).eval()
    images = torch.rand(B, 1, 28, 28) * 2 - 1
    encode_s = median_time(lambda: encode_mean(vae, images), settings.repeats)

    attention = TrainableSpec(modules="transformer_blocks", from_block=settings.from_block, class_embedder=True)
    full = TrainableSpec(modules="all", class_embedder=True)
    (nonprivate, trainable), (dp, _), (full_dp, full_trainable) = (
        variant(attention, private=False), variant(attention, private=True), variant(full, private=True))
    nonprivate_s, dp_s, full_dp_s = interleaved_medians([nonprivate, dp, full_dp], settings.repeats)
    peak = peak_flops()
    result = {
        "model": settings.model or "random omniglot-shaped", "latent_shape": list(latent_shape),
        "batch_size": B, "threads": torch.get_num_threads(), "from_block": settings.from_block,
        "trainable_params": trainable, "full_trainable_params": full_trainable,
        "nonprivate_s": round(nonprivate_s, 4), "dp_s": round(dp_s, 4), "full_dp_s": round(full_dp_s, 4),
        "dp_over_nonprivate": round(dp_s / nonprivate_s, 3),
        "attention_dp_over_full_dp": round(dp_s / full_dp_s, 3),
        "encode_s": round(encode_s, 4), "latent_cache_speedup": round((dp_s + encode_s) / dp_s, 3),
        "dp_examples_per_s": round(B / dp_s, 1), "nonprivate_examples_per_s": round(B / nonprivate_s, 1),
        "peak_gflop_per_s": round(peak / 1e9, 1),
        "nonprivate": efficiency(count_flops(nonprivate), nonprivate_s, peak),
        "dp": efficiency(count_flops(dp), dp_s, peak),
    }
    table = None
    if settings.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            dp()
        table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=settings.profile)
    return result, table
