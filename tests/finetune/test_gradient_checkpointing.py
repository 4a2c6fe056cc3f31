"""Gradient checkpointing of the frozen ResNets (train.gradient_checkpointing): the per-example gradients are those
of the plain backward, the frozen ResNets really run twice, trained blocks are never recomputed, and a spec that
trains the ResNets is refused."""

from __future__ import annotations

import copy

import torch

from dpldm.cli.main import main
from dpldm.dp.gradient import PrivateGradient
from dpldm.finetune.trainable import TrainableSpec, select_trainable
from dpldm.models.checkpointing import checkpoint_frozen_blocks
from dpldm.public_models import resolve_model
from tiny_configs import tiny


def eps_rows(module, batch, generator):
    """Per-row eps-prediction loss at fixed timesteps; noise drawn from ``generator``."""
    noise = torch.randn(batch["z"].shape, generator=generator)
    pred = module(batch["z"] + noise, batch["t"], batch["y"])
    return ((pred - noise) ** 2).flatten(1).mean(1)


def count_forwards(monkeypatch, cls) -> list[int]:
    """Calls of ``cls.forward`` (forward hooks do not fire when checkpointing recomputes a module; forward does)."""
    calls, forward = [0], cls.forward

    def counted(self, *args, **kwargs):
        calls[0] += 1
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(cls, "forward", counted)
    return calls


def test_checkpointed_per_example_gradients_equal_the_plain_ones(tiny_public_model, monkeypatch):
    from diffusers.models.attention import BasicTransformerBlock
    from diffusers.models.resnet import ResnetBlock2D

    denoiser = resolve_model(tiny_public_model).denoiser
    select_trainable(denoiser, TrainableSpec(modules="transformer_blocks", from_block=2, class_embedder=True))
    plain, checkpointed = denoiser, copy.deepcopy(denoiser)
    assert checkpoint_frozen_blocks(checkpointed.unet) > 0
    switched = [m for m in checkpointed.unet.modules() if getattr(m, "gradient_checkpointing", False)]
    assert all(not any(p.requires_grad for p in m.resnets.parameters()) for m in switched)
    n_resnets = sum(isinstance(m, ResnetBlock2D) for m in checkpointed.unet.modules())
    n_blocks = sum(isinstance(m, BasicTransformerBlock) for m in checkpointed.unet.modules())

    z = torch.randn(6, *resolve_model(tiny_public_model).latent_shape, generator=torch.Generator().manual_seed(0))
    batch = {"z": z, "t": torch.tensor([5, 100, 300, 500, 700, 999]), "y": torch.tensor([0, 1, 2, 3, 4, 5])}
    grads, calls = [], []
    resnet_calls, block_calls = count_forwards(monkeypatch, ResnetBlock2D), count_forwards(monkeypatch,
                                                                                          BasicTransformerBlock)
    for module in (plain, checkpointed):
        module.train()
        resnet_calls[0] = block_calls[0] = 0
        gradient = PrivateGradient(module, eps_rows, max_grad_norm=1.0, noise_multiplier=0.0, expected_batch_size=6,
                                   max_physical_batch=6)
        grads.append(gradient.per_example(batch, torch.Generator().manual_seed(1)))
        gradient.close()
        calls.append((resnet_calls[0], block_calls[0]))
    for got, want in zip(grads[1], grads[0], strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    # Without checkpointing every module runs once. With it, frozen ResNets after the first trained block run again
    # in the backward pass (those before it need no backward); the trained transformer blocks still run once.
    (plain_resnets, plain_blocks), (resnets, blocks) = calls
    assert plain_resnets == n_resnets and plain_blocks == n_blocks
    assert n_resnets < resnets < 2 * n_resnets and blocks == n_blocks


def test_checkpointing_is_refused_when_the_resnets_are_trained(tiny_public_model, tmp_path, capsys):
    denoiser = resolve_model(tiny_public_model).denoiser
    select_trainable(denoiser, TrainableSpec(modules="all"))
    assert checkpoint_frozen_blocks(denoiser.unet) == 0
    assert not any(getattr(m, "gradient_checkpointing", False) for m in denoiser.unet.modules())
    assert main(["finetune", "--config", tiny("tiny_finetune"), "--out", str(tmp_path / "run"), "--set",
                 f"public_model={tiny_public_model}", "trainable.modules=all", "train.gradient_checkpointing=true",
                 "dp.steps=1"]) == 2
    assert "gradient_checkpointing" in capsys.readouterr().err


def test_a_checkpointed_fine_tune_runs_through_the_cli(tiny_public_model, tmp_path):
    assert main(["finetune", "--config", tiny("tiny_finetune"), "--out", str(tmp_path / "run"), "--set",
                 f"public_model={tiny_public_model}", "train.gradient_checkpointing=true", "dp.steps=2"]) == 0
    assert (tmp_path / "run" / "model" / "model.json").is_file()


