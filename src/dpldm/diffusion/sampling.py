"""Sampling latents with a diffusers scheduler, classifier-free guidance, and one random stream per image.

Each image owns a ``torch.Generator`` seeded with its own seed; its initial noise and every noise draw of the
sampler come from that generator alone, so an image depends only on (seed, label), not on its batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


@torch.no_grad()
def sample_latents(denoiser: nn.Module, scheduler, cond: torch.Tensor, seeds: Sequence[int], *,
                   latent_shape: tuple[int, int, int], steps: int, guidance_scale: float = 1.0,
                   null_cond: torch.Tensor | None = None, eta: float = 0.0) -> torch.Tensor:
    """Run the reverse process for one batch.

    Map to the guidance literature: w = ``guidance_scale``; eps = eps(z, c_null) + w (eps(z, c) - eps(z, c_null)),
    so w = 1 is plain conditional sampling and w = 0 unconditional.
    cond: (B,) labels or (B, L, D) token states; null_cond: the same shape, the null condition (needed when w != 1).
    returns: latents (B, *latent_shape), in the scaled latent space the model was trained on.
    """
    device = next(denoiser.parameters()).device
    dtype = next(denoiser.parameters()).dtype
    generators = [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]
    z = torch.stack([torch.randn(latent_shape, generator=g, dtype=torch.float32) for g in generators])
    z = z.to(device=device, dtype=dtype) * scheduler.init_noise_sigma
    guided = guidance_scale != 1.0
    if guided and null_cond is None:
        raise ValueError("guidance_scale != 1 needs null_cond")
    cond_in = torch.cat([null_cond, cond]) if guided else cond
    scheduler.set_timesteps(steps)
    extra = {"eta": eta} if "eta" in scheduler.step.__code__.co_varnames else {}
    for t in scheduler.timesteps:
        z_in = torch.cat([z, z]) if guided else z
        z_in = scheduler.scale_model_input(z_in, t)
        t_batch = torch.full((z_in.shape[0],), int(t), device=device, dtype=torch.long)
        eps = denoiser(z_in, t_batch, cond_in)
        if guided:
            eps_null, eps_cond = eps.chunk(2)
            eps = eps_null + guidance_scale * (eps_cond - eps_null)
        # The schedulers draw their per-step noise with randn_tensor, which takes one generator per batch row.
        z = scheduler.step(eps, t, z, generator=generators, **extra).prev_sample
    return z
