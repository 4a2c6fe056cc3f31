"""`dpldm sample` as a config-driven stage: --config / --set / flags resolve to one SampleConfig, --dry-run writes
nothing, the flags draw the same images as the lower-level ``generate`` (the slow twin), and --device is checked
before any work."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from dpldm.bundle import load_bundle
from dpldm.cli.main import main
from dpldm.synthesis import SampleConfig, class_balanced_labels, generate, image_seeds


def write_config(path: Path, **settings) -> Path:
    path.write_text(yaml.safe_dump(settings))
    return path


def test_dry_run_prints_the_resolved_config_and_writes_nothing(tiny_public_model, tmp_path, capsys):
    out = tmp_path / "samples"
    config = write_config(tmp_path / "sample.yaml", model=str(tiny_public_model), out_dir=str(out), steps=7,
                          guidance_scale=2.5, n_per_class=3)
    assert main(["sample", "--config", str(config), "--set", "steps=2", "seed=4", "--n-per-class", "5",
                 "--dry-run", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    resolved = printed["config"]
    assert printed["device"] == ("cuda" if torch.cuda.is_available() else "cpu")  # what auto resolves to
    # The config's values, then --set over them, then the flags given; the rest are SampleConfig's defaults.
    assert resolved["model"] == str(tiny_public_model) and resolved["out_dir"] == str(out)
    assert (resolved["steps"], resolved["seed"], resolved["n_per_class"]) == (2, 4, 5)
    assert resolved["guidance_scale"] == 2.5 and resolved["sampler"] == "ddim" and resolved["device"] == "auto"
    assert not out.exists()
    # The bundled example config resolves by name.
    assert main(["sample", "--config", "sample", "--set", "steps=2", "--dry-run", "--json"]) == 0
    bundled = json.loads(capsys.readouterr().out)["config"]
    assert bundled["model"] == "omniglot" and bundled["steps"] == 2 and bundled["guidance_scale"] == 1.0


def test_flags_draw_the_images_of_the_lower_level_generate(tiny_public_model, tmp_path, capsys):
    out = tmp_path / "samples"
    assert main(["sample", "--model", str(tiny_public_model), "--out", str(out), "--n-per-class", "2",
                 "--sampler", "ddpm", "--steps", "3", "--guidance", "2", "--seed", "7", "--batch-size", "3",
                 "--classes", "1", "4", "--clip-latents", "2", "--device", "cpu", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    saved = np.load(out / "samples.npz")
    # The twin: the model, labels, seeds and settings written out by hand.
    labels = class_balanced_labels(26, 2)
    labels = labels[np.isin(labels, [1, 4])]
    expected, _ = generate(load_bundle(tiny_public_model), labels, image_seeds(7, len(labels)),
                           SampleConfig(sampler="ddpm", steps=3, guidance_scale=2.0, batch_size=3, clip_latents=2.0),
                           progress=False)
    assert saved["labels"].tolist() == [1, 1, 4, 4] and summary["images"] == 4
    np.testing.assert_array_equal(saved["images"], expected)
    record = yaml.safe_load((out / "samples.yaml").read_text())
    assert record["classes"] == [1, 4] and record["guidance_scale"] == 2.0 and record["device"] == "cpu"
    # The same request from a config file draws the same images; the device and batch size are result-neutral,
    # so it is accepted in the folder the flags filled.
    config = write_config(tmp_path / "sample.yaml", model=str(tiny_public_model), out_dir=str(out), n_per_class=2,
                          sampler="ddpm", steps=3, guidance_scale=2.0, seed=7, classes=[1, 4], clip_latents=2.0,
                          batch_size=3, device="auto")
    assert main(["sample", "--config", str(config)]) == 0
    np.testing.assert_array_equal(np.load(out / "samples.npz")["images"], expected)
    # A flag overrides the config: another guidance is another request, refused in this folder.
    assert main(["sample", "--config", str(config), "--guidance", "1"]) == 2
    assert "guidance_scale 2.0 -> 1.0" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_device_cuda_without_cuda_is_a_one_line_error(tiny_public_model, tmp_path, capsys):
    out = tmp_path / "samples"
    assert main(["sample", "--model", str(tiny_public_model), "--out", str(out), "--steps", "2",
                 "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "--device cuda" in err and "no CUDA device is available" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()
    # The dry run resolves the device too.
    assert main(["sample", "--model", str(tiny_public_model), "--device", "cuda", "--dry-run"]) == 2
    assert "--device cuda" in capsys.readouterr().err


def test_no_model_or_no_folder_is_a_one_line_error(tmp_path, capsys):
    assert main(["sample", "--out", str(tmp_path / "s")]) == 2
    assert "no model; pass --model" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
    assert main(["sample", "--model", "omniglot", "--out", "", "--dry-run"]) == 2
    assert "out_dir must name a folder" in capsys.readouterr().err


@pytest.mark.slow
def test_compiled_sampling_draws_the_eager_images(tiny_public_model, tmp_path, capsys):
    # The slow twin is the eager denoiser; compiled (inductor, frozen weights) kernels sum in other orders.
    out = tmp_path / "compiled"
    assert main(["sample", "--model", str(tiny_public_model), "--out", str(out), "--n-per-class", "1",
                 "--sampler", "dpmpp", "--steps", "2", "--guidance", "2", "--device", "cpu", "--compile"]) == 0
    labels = class_balanced_labels(26, 1)
    model = load_bundle(tiny_public_model)
    eager, _ = generate(model, labels, image_seeds(0, len(labels)),
                        SampleConfig(sampler="dpmpp", steps=2, guidance_scale=2.0), progress=False)
    compiled = np.load(out / "samples.npz")["images"]
    assert np.abs(compiled.astype(int) - eager.astype(int)).max() <= 1  # at most one grey level, from rounding
