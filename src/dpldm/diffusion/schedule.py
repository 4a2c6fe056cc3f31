"""The DDPM noise schedule and the samplers' schedulers, all from diffusers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler


@dataclass
class DiffusionConfig:
    num_train_timesteps: int = 1000  # T
    beta_schedule: Literal["linear", "scaled_linear", "squaredcos_cap_v2"] = "linear"  # beta_t over t
    beta_start: float = 0.0001  # beta_1
    beta_end: float = 0.02  # beta_T

    def validate(self) -> None:
        if self.num_train_timesteps < 2:
            raise ValueError("num_train_timesteps must be at least 2")
        if not 0 < self.beta_start < self.beta_end < 1:
            raise ValueError("need 0 < beta_start < beta_end < 1")


def _common(cfg: DiffusionConfig) -> dict:
    return dict(num_train_timesteps=cfg.num_train_timesteps, beta_schedule=cfg.beta_schedule,
                beta_start=cfg.beta_start, beta_end=cfg.beta_end, prediction_type="epsilon",
                clip_sample=False)


def train_scheduler(cfg: DiffusionConfig) -> DDPMScheduler:
    """The forward process q(z_t | z_0): ``add_noise`` and ``alphas_cumprod``."""
    return DDPMScheduler(**_common(cfg))


def make_scheduler(cfg: DiffusionConfig, sampler: Literal["ddim", "ddpm", "dpmpp"], *,
                   clip_latents: float | None = None) -> DDIMScheduler | DDPMScheduler | DPMSolverMultistepScheduler:
    """A sampler's scheduler over the same betas as training.

    ddim: DDIM (eta from the caller); ddpm: ancestral DDPM; dpmpp: DPM-Solver++ (2M, Lu et al. 2022), a second-order
    multistep solver of the same ODE as DDIM with eta 0, which needs fewer steps for the same images.

    clip_latents: clip each step's prediction of z_0 to [-c, c] (DDPM's x_0 clipping, diffusers' ``clip_sample``),
    in the model's scaled latent space, where the data has unit std (scale-by-std); None: no clipping.
    """
    if clip_latents is not None and not clip_latents > 0:
        raise ValueError(f"clip_latents must be positive or None, got {clip_latents}")
    common = _common(cfg)
    if clip_latents is not None:
        common.update(clip_sample=True, clip_sample_range=float(clip_latents))
    if sampler == "ddim":
        # "leading" spacing with steps_offset=1 is Stable Diffusion's DDIM set-up.
        return DDIMScheduler(**common, set_alpha_to_one=False, steps_offset=1, timestep_spacing="leading")
    if sampler == "ddpm":
        return DDPMScheduler(**common, variance_type="fixed_small")
    if sampler == "dpmpp":
        if clip_latents is not None:
            raise ValueError("clip_latents works with the ddim and ddpm samplers, not dpmpp")
        # Solver order 2 with first-order final steps: diffusers' recommended set-up for guided sampling.
        common.pop("clip_sample")
        return DPMSolverMultistepScheduler(**common, algorithm_type="dpmsolver++", solver_order=2,
                                           lower_order_final=True, timestep_spacing="leading", steps_offset=1)
    raise ValueError(f"sampler must be 'ddim', 'ddpm' or 'dpmpp', got {sampler!r}")
