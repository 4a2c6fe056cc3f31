"""The public stage end to end on the tiny config: autoencoder -> pretrain -> sample, through the CLI.

Also: a resumed run after a killed process reaches the same weights as an uninterrupted one, a saved and
reloaded model gives bit-identical samples, and an image does not depend on the batch it was drawn in.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dpldm.bundle import load_bundle, save_bundle
from dpldm.cli.main import main
from dpldm.synthesis import SampleConfig, class_balanced_labels, generate, image_seeds

def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def autoencoder(tiny_autoencoder) -> Path:
    metrics = json.loads((tiny_autoencoder / "metrics.json").read_text())
    assert metrics["public_holdout"]["count"] > 0 and np.isfinite(metrics["public_holdout"]["psnr_db"])
    assert (tiny_autoencoder / "reconstructions.png").is_file() and (tiny_autoencoder / "config.yaml").is_file()
    return tiny_autoencoder / "autoencoder"


def pretrain_args(autoencoder: Path, out: Path, steps: int = 6) -> list[str]:
    return ["pretrain", "--config", "tiny_ldm", "--out", str(out),
            "--set", f"autoencoder={autoencoder}", f"train.steps={steps}", "train.checkpoint_every=3"]


def test_pretrain_then_sample_through_cli(autoencoder, tmp_path, capsys):
    assert main(pretrain_args(autoencoder, tmp_path / "ldm")) == 0
    run = tmp_path / "ldm"
    for name in ("config.yaml", "log.jsonl", "loss.png", "checkpoint.safetensors", "checkpoint.json",
                 "model/model.json", "model/denoiser.safetensors", "model/autoencoder.safetensors"):
        assert (run / name).is_file(), name
    capsys.readouterr()
    assert main(["sample", "--model", str(run / "model"), "--out", str(tmp_path / "s"), "--n-per-class", "2",
                 "--steps", "3", "--guidance", "2", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    data = np.load(tmp_path / "s" / "samples.npz")
    assert data["images"].shape == (52, 8, 8) and data["images"].dtype == np.uint8
    assert np.bincount(data["labels"]).tolist() == [2] * 26
    assert summary["images"] == 52 and summary["images_per_s"] > 0
    assert (tmp_path / "s" / "samples.png").is_file()
    # Clipping is off by default (0 is off too); a tight clip changes the images; a negative one is refused when
    # the arguments are parsed.
    for name, clip in (("off", "0"), ("tight", "0.5")):
        assert main(["sample", "--model", str(run / "model"), "--out", str(tmp_path / name), "--n-per-class", "2",
                     "--steps", "3", "--guidance", "2", "--clip-latents", clip]) == 0
    default = data["images"]
    np.testing.assert_array_equal(np.load(tmp_path / "off" / "samples.npz")["images"], default)
    assert not np.array_equal(np.load(tmp_path / "tight" / "samples.npz")["images"], default)
    with pytest.raises(SystemExit) as exit_info:
        main(["sample", "--model", str(run / "model"), "--out", str(tmp_path / "s1"), "--clip-latents", "-1"])
    assert exit_info.value.code == 2
    assert "must be 0 (off) or positive" in capsys.readouterr().err


def test_resume_after_kill_matches_uninterrupted(autoencoder, tmp_path, run_killed_after_first_checkpoint):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert main(pretrain_args(autoencoder, straight)) == 0
    killed = run_killed_after_first_checkpoint("dpldm.training.pretrain", pretrain_args(autoencoder, resumed))
    assert killed.returncode == 9, killed.stderr
    assert json.loads((resumed / "checkpoint.json").read_text())["step"] == 3
    assert not (resumed / "model").exists()
    assert main(pretrain_args(autoencoder, resumed)) == 0
    assert sha(resumed / "model" / "denoiser.safetensors") == sha(straight / "model" / "denoiser.safetensors")
    steps = [json.loads(line)["step"] for line in (resumed / "log.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps))  # no step logged twice after the resume


def test_saved_model_samples_bit_identical_and_batch_independent(autoencoder, tmp_path):
    assert main(pretrain_args(autoencoder, tmp_path / "ldm", steps=2)) == 0
    model = load_bundle(tmp_path / "ldm" / "model")
    save_bundle(tmp_path / "copy", model)
    again = load_bundle(tmp_path / "copy")
    labels = class_balanced_labels(10, 1)
    seeds = image_seeds(5, len(labels))
    cfg = SampleConfig(steps=3, sampler="ddpm", batch_size=10)
    a, _ = generate(model, labels, seeds, cfg, progress=False)
    b, _ = generate(again, labels, seeds, cfg, progress=False)
    assert np.array_equal(a, b)
    # Drawn 3 at a time, in another batch composition: the same images (up to float rounding of batched convs).
    c, _ = generate(model, labels, seeds, SampleConfig(steps=3, sampler="ddpm", batch_size=3), progress=False)
    assert np.abs(a.astype(int) - c.astype(int)).max() <= 1
    # Another seed gives another image.
    d, _ = generate(model, labels, image_seeds(6, len(labels)), cfg, progress=False)
    assert not np.array_equal(a, d)


def test_sha_mismatch_is_refused(autoencoder, tmp_path):
    assert main(pretrain_args(autoencoder, tmp_path / "ldm", steps=1)) == 0
    weights = tmp_path / "ldm" / "model" / "denoiser.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[-1] ^= 0xFF
    weights.write_bytes(bytes(raw))
    from dpldm.errors import DpldmError

    with pytest.raises(DpldmError, match="sha256"):
        load_bundle(tmp_path / "ldm" / "model")
