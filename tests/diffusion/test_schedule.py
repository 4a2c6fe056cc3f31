"""Scheduler golden values, computed here from the definitions (not read back from diffusers)."""

from __future__ import annotations

import numpy as np
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
