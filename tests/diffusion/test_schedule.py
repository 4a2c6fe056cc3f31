"""Scheduler golden values, computed here from the definitions (not read back from diffusers)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dpldm.diffusion import DiffusionConfig, make_scheduler, train_scheduler
from dpldm.diffusion.loss import eps_loss


def test_linear_alphas_cumprod_match_definition():
    cfg = DiffusionConfig()
    betas = np.linspace(1e-4, 0.02, 1000, dtype=np.float64)
    abar = np.cumprod(1 - betas)
    got = train_scheduler(cfg).alphas_cumprod.double().numpy()
    np.testing.assert_allclose(got, abar, rtol=1e-5)
    # Golden values from the closed form: abar_0 = 1 - 1e-4; abar_999 ~ 4.04e-5.
    assert abs(got[0] - 0.9999) < 1e-7
    assert abs(got[999] - 4.0358e-5) < 1e-8


def test_ddim_timesteps_leading_spacing():
    sched = make_scheduler(DiffusionConfig(), "ddim")
    sched.set_timesteps(50)
    assert sched.timesteps.tolist() == list(range(981, 0, -20))


def test_add_noise_and_loss_per_example():
    sched = train_scheduler(DiffusionConfig())
    z0, noise = torch.randn(4, 3, 2, 2), torch.randn(4, 3, 2, 2)
    t = torch.tensor([0, 10, 500, 999])
    abar = sched.alphas_cumprod[t].view(-1, 1, 1, 1)
    expected = abar.sqrt() * z0 + (1 - abar).sqrt() * noise
    torch.testing.assert_close(sched.add_noise(z0, noise, t), expected)

    class Oracle(torch.nn.Module):  # predicts the true noise -> zero loss
        def forward(self, z_t, t_, cond):
            a = sched.alphas_cumprod[t_].view(-1, 1, 1, 1)
            return (z_t - a.sqrt() * z0) / (1 - a).sqrt()

    loss = eps_loss(Oracle(), z0, torch.zeros(4), t=t, noise=noise, schedule=sched)
    assert loss.shape == (4,)
    assert loss.max() < 1e-6


def test_ddim_step_clips_predicted_clean_latent_by_hand():
    # One DDIM step (eta 0), written out from the DDIM update: z0_hat = (z - sqrt(1-a_t) eps) / sqrt(a_t), clipped
    # to [-c, c]; z_prev = sqrt(a_prev) z0_hat + sqrt(1-a_prev) eps (the model's eps, not re-derived).
    cfg, c = DiffusionConfig(), 1.5
    sched = make_scheduler(cfg, "ddim", clip_latents=c)
    sched.set_timesteps(50)
    t, t_prev = int(sched.timesteps[10]), int(sched.timesteps[11])
    gen = torch.Generator().manual_seed(0)
    z, eps = 3 * torch.randn(2, 3, 4, 4, generator=gen), torch.randn(2, 3, 4, 4, generator=gen)
    a_t, a_prev = sched.alphas_cumprod[t].double(), sched.alphas_cumprod[t_prev].double()
    z0_hat = ((z.double() - (1 - a_t).sqrt() * eps.double()) / a_t.sqrt())
    assert z0_hat.abs().max() > c  # the clip is active in this case
    expected = a_prev.sqrt() * z0_hat.clamp(-c, c) + (1 - a_prev).sqrt() * eps.double()
    got = sched.step(eps, t, z, eta=0.0).prev_sample
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-5)
    unclipped = make_scheduler(cfg, "ddim")
    unclipped.set_timesteps(50)
    assert not torch.allclose(unclipped.step(eps, t, z, eta=0.0).prev_sample, got)


def test_clipping_bounds_latents_of_a_diverging_denoiser():
    from dpldm.diffusion import sample_latents

    class Diverging(torch.nn.Module):  # |eps| = 2, inwards: predicted z0 runs away (an under-trained model can)
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))

        def forward(self, z, t, cond):
            return -2.0 * torch.sign(z)

    def final_max(clip):
        sched = make_scheduler(DiffusionConfig(), "ddim", clip_latents=clip)
        z = sample_latents(Diverging(), sched, torch.zeros(4), [0, 1, 2, 3], latent_shape=(3, 4, 4), steps=20)
        return z.abs().max().item()

    # Last step: z = sqrt(abar_0) clip(z0_hat) + sqrt(1 - abar_0) eps, with sqrt(1 - abar_0) = 0.01 and |eps| = 2.
    assert final_max(1.0) <= 1.0 + 0.01 * 2 + 1e-5
    assert final_max(None) > 10


def test_clip_latents_must_be_positive():
    import pytest

    with pytest.raises(ValueError, match="clip_latents"):
        make_scheduler(DiffusionConfig(), "ddpm", clip_latents=0.0)


class GaussianOracle(torch.nn.Module):
    """The exact eps-predictor for data z_0 ~ N(0, s^2 I): eps(z_t, t) = sqrt(1 - a) z_t / (a s^2 + 1 - a)."""

    def __init__(self, alphas_cumprod: torch.Tensor, s: float) -> None:
        super().__init__()
        self.register_buffer("a", alphas_cumprod.double())
        self.anchor = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))  # the dtype/device sample_latents reads
        self.s = s

    def forward(self, z, t, cond):
        a = self.a[t].view(-1, 1, 1, 1)
        return (1 - a).sqrt() * z / (a * self.s ** 2 + 1 - a)


def test_dpm_solver_follows_the_probability_flow_ode_closer_than_ddim_at_few_steps():
    from dpldm.diffusion.sampling import sample_latents

    cfg = DiffusionConfig()
    oracle = GaussianOracle(train_scheduler(cfg).alphas_cumprod, s=0.5)
    run = lambda sampler, steps: sample_latents(  # noqa: E731
        oracle, make_scheduler(cfg, sampler), torch.zeros(8, dtype=torch.long), list(range(8)),
        latent_shape=(1, 2, 2), steps=steps)
    exact = run("ddim", 500)  # DDIM with eta 0 is a first-order solver of the same ODE; at 500 steps, its solution
    # For Gaussian data the ODE maps the noise to z_0 = s * noise: the reference is right.
    torch.testing.assert_close(exact.std(), torch.tensor(0.5, dtype=torch.float64), rtol=0.35, atol=0)
    error = {(sampler, steps): (run(sampler, steps) - exact).abs().max().item()
             for sampler in ("ddim", "dpmpp") for steps in (10, 20, 50)}
    # Measured: DDIM 0.272 / 0.140 / 0.054 at 10 / 20 / 50 steps; DPM-Solver++ 0.178 / 0.040 / 0.004.
    assert error[("dpmpp", 20)] < error[("ddim", 20)] / 3, error  # second order against first
    assert error[("dpmpp", 20)] < error[("ddim", 50)], error  # 20 steps of it beat DDIM's default 50
    assert error[("dpmpp", 20)] < error[("dpmpp", 10)], error


def test_dpm_solver_refuses_latent_clipping():
    with pytest.raises(ValueError, match="not dpmpp"):
        make_scheduler(DiffusionConfig(), "dpmpp", clip_latents=3.0)
