"""Session fixtures: a tiny public model (autoencoder + latent diffusion) trained once through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

# The test models are tiny: one thread is faster than two, and it keeps timings sane when the cores are shared.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_autoencoder(tmp_path_factory) -> Path:
    """Folder of a seconds-trained 8x8 autoencoder (configs/tiny_autoencoder.yaml)."""
    from dpldm.cli.main import main

    out = tmp_path_factory.mktemp("tiny_ae")
    assert main(["train-autoencoder", "--config", "tiny_autoencoder", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def tiny_public_model(tiny_autoencoder, tmp_path_factory) -> Path:
    """Model folder of a seconds-trained 8x8 latent diffusion model on public glyphs (configs/tiny_ldm.yaml)."""
    from dpldm.cli.main import main

    out = tmp_path_factory.mktemp("tiny_ldm")
    assert main(["pretrain", "--config", "tiny_ldm", "--out", str(out),
                 "--set", f"autoencoder={tiny_autoencoder / 'autoencoder'}"]) == 0
    return out / "model"
