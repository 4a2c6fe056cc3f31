"""Session fixtures: a tiny public model (autoencoder + latent diffusion) trained once through the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
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


# Runs the CLI in a subprocess that dies (os._exit, no clean-up) right after its first checkpoint is written.
_CRASH_AFTER_FIRST_CHECKPOINT = """
import os, sys, importlib
stage = importlib.import_module(sys.argv[1])
save = stage.save_checkpoint
def save_then_die(*args, **kwargs):
    save(*args, **kwargs)
    os._exit(9)
stage.save_checkpoint = save_then_die
from dpldm.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.fixture
def run_killed_after_first_checkpoint():
    """f(stage_module, argv): ``dpldm argv`` in a subprocess killed after ``stage_module``'s first checkpoint, with
    this process's thread count, so the resumed run can be compared bit for bit."""
    return _run_killed


def _run_killed(stage_module: str, argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _CRASH_AFTER_FIRST_CHECKPOINT, stage_module, *argv],
                          capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())})
