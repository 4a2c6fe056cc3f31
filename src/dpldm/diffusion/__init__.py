"""Diffusion: the noise schedule, the training loss, and samplers. Functions of (model, schedule, latents)."""

from dpldm.diffusion.loss import eps_loss
from dpldm.diffusion.sampling import sample_latents
from dpldm.diffusion.schedule import DiffusionConfig, make_scheduler, train_scheduler

__all__ = ["DiffusionConfig", "make_scheduler", "train_scheduler", "eps_loss", "sample_latents"]
