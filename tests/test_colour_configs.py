"""The colour configs fit together without training anything: each autoencoder makes the latents its latent
diffusion config expects, the UNet has the transformer blocks its fine-tuning config starts from, and the public
and private sides are 32x32 colour. CPU-sized (configs/tiny_imagenet32_*.yaml, cifar10_finetune.yaml) and GPU-sized
(configs/gpu/cifar10_*.yaml, the official recipe's shape: f2 -> 16x16x3, ~4M-parameter UNet, blocks 9..16)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from dpldm.bundle import build_denoiser
from dpldm.cli.common import resolve_config_path
from dpldm.config import load_config
from dpldm.finetune.stage import FinetuneConfig
from dpldm.training.autoencoder import AutoencoderStageConfig
from dpldm.training.pretrain import PretrainConfig

TINY_IMAGENET_CLASSES = 200
ROOT = Path(__file__).resolve().parents[1]


def transformer_blocks(denoiser) -> int:
    return sum(1 for m in denoiser.modules() if type(m).__name__ == "BasicTransformerBlock")


@pytest.mark.parametrize("autoencoder, ldm, finetune, latent, params", [
    ("tiny_imagenet32_autoencoder", "tiny_imagenet32_ldm", "cifar10_finetune", (4, 8), (1.0e6, 2.5e6)),
    ("gpu/cifar10_autoencoder", "gpu/cifar10_ldm", "gpu/cifar10_finetune", (3, 16), (3.5e6, 5e6)),
])
def test_colour_configs_chain(autoencoder, ldm, finetune, latent, params):
    ae = load_config(AutoencoderStageConfig, resolve_config_path(autoencoder))
    ld = load_config(PretrainConfig, resolve_config_path(ldm))
    ft = load_config(FinetuneConfig, resolve_config_path(finetune))
    for data in (ae.data, ld.data, ft.data):
        assert (data.image_size, data.channels) == (32, 3)
    assert (ae.data.name, ld.data.name, ft.data.name) == ("tiny_imagenet32", "tiny_imagenet32", "cifar10")
    # The autoencoder's latents are what the UNet is built for.
    channels, side = latent
    assert (ae.model.latent_channels, 32 // ae.model.downsampling) == (channels, side)
    assert (ld.unet.latent_channels, ld.unet.sample_size) == (channels, side)
    assert Path(ld.autoencoder) == Path(ae.out_dir) / "autoencoder"
    # The UNet's size, and the blocks the fine-tuning trains exist in it (the deepest ones, as the paper).
    denoiser = build_denoiser(ld.unet, TINY_IMAGENET_CLASSES)
    assert params[0] < sum(p.numel() for p in denoiser.parameters()) < params[1]
    blocks = transformer_blocks(denoiser)
    assert ft.trainable.modules == "transformer_blocks" and 1 < ft.trainable.from_block <= blocks
    assert blocks - ft.trainable.from_block + 1 in (4, 8)  # grey models: blocks 8..11; official: blocks 9..16


def test_gpu_script_runs_the_gpu_configs_with_the_cli_commands():
    script = ROOT / "tools" / "gpu_cifar10.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    text = script.read_text()
    for config in ("gpu/cifar10_autoencoder", "gpu/cifar10_ldm", "gpu/cifar10_finetune"):
        assert f"--config {config}" in text and resolve_config_path(config).is_file()
    for command in ("train-autoencoder", "pretrain", "finetune", "sample", "evaluate accuracy", "evaluate fid",
                    "report"):
        assert f"$DPLDM {command}" in text
