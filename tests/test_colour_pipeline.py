"""Colour (32x32x3) end to end through the CLI, on small stand-ins of the colour archives (``colour_data_root``):
train-autoencoder -> pretrain -> DP fine-tune -> sample -> evaluate accuracy and FID -> report, the public/private
fingerprint check on colour images, and a missing public model named in one line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dpldm.bundle import load_bundle
from dpldm.cli.main import main
from dpldm.data import DataConfig, load_images
from tiny_configs import tiny


def is_colour(rgb: np.ndarray) -> bool:
    """An (H, W, 3) picture whose channels differ somewhere (a grey one has R == G == B everywhere)."""
    return bool((rgb[..., 0] != rgb[..., 1]).any() or (rgb[..., 1] != rgb[..., 2]).any())


def finetune_args(model: Path, root: Path, out: Path, *extra: str) -> list[str]:
    return ["finetune", "--config", tiny("tiny_colour_finetune"), "--out", str(out), "--data-root", str(root),
            "--set", f"public_model={model}", "dp.seed=3", *extra]


def test_public_stages_train_and_fingerprint_colour_images(tiny_colour_autoencoder, tiny_colour_public_model,
                                                           colour_data_root):
    metrics = json.loads((tiny_colour_autoencoder / "metrics.json").read_text())
    assert metrics["public_holdout"]["count"] == 30 and np.isfinite(metrics["public_holdout"]["psnr_db"])
    assert is_colour(np.asarray(Image.open(tiny_colour_autoencoder / "reconstructions.png").convert("RGB")))
    model = load_bundle(tiny_colour_public_model)
    assert (model.image_size, model.channels) == (32, 3) and model.autoencoder_cfg.in_channels == 3
    assert model.class_names == tuple(f"scene {c}" for c in range(20))
    # The fingerprint, by hand: one BLAKE2b prefix per colour image, its shape (32, 32, 3) in the hash.
    public = load_images(DataConfig(name="tiny_imagenet32", split="train", image_size=32, channels=3, limit=300),
                         root=colour_data_root)
    assert public.images.shape == (300, 32, 32, 3)
    expected = sorted({int.from_bytes(hashlib.blake2b(b"(32, 32, 3)" + image.tobytes(), digest_size=8).digest(),
                                      "little") for image in public.images})
    assert model.public_hashes.tolist() == expected


def test_colour_finetune_sample_evaluate_and_report(tiny_colour_public_model, colour_data_root, tmp_path, capsys,
                                                   monkeypatch):
    monkeypatch.setenv("DPLDM_CACHE", str(tmp_path / "cache"))  # reference features of the stand-in, not cached
    root, run = colour_data_root, tmp_path / "ft"
    with pytest.warns(UserWarning, match="seed"):  # dp.seed: reproducible, so not private against its holder
        assert main(finetune_args(tiny_colour_public_model, root, run)) == 0
    privacy = json.loads((run / "privacy.json").read_text())
    assert 0 < privacy["epsilon"] <= 10.0 + 1e-6
    model = load_bundle(run / "model")
    assert (model.image_size, model.channels) == (32, 3) and len(model.class_names) == 10

    samples = tmp_path / "samples"
    capsys.readouterr()
    assert main(["sample", "--model", str(run / "model"), "--out", str(samples), "--n-per-class", "3", "--steps", "3",
                 "--guidance", "2", "--json"]) == 0
    data = np.load(samples / "samples.npz")
    assert data["images"].shape == (30, 32, 32, 3) and data["images"].dtype == np.uint8
    assert np.bincount(data["labels"]).tolist() == [3] * 10
    grid = np.asarray(Image.open(samples / "samples.png").convert("RGB"))
    assert is_colour(grid)

    capsys.readouterr()
    assert main(["evaluate", "accuracy", "--synthetic", str(samples / "samples.npz"), "--dataset", "cifar10",
                 "--data-root", str(root), "--model", str(run), "--classifier", "resnet20", "--epochs", "1",
                 "--batch-size", "16", "--no-ledger", "--json", "--out", str(run / "metrics.json")]) == 0
    accuracy = json.loads(capsys.readouterr().out)
    assert accuracy["selected"]["classifier"] == "resnet20" and accuracy["n_test"] == 200
    assert 0.0 <= accuracy["test_accuracy"] <= 100.0

    from dpldm.evaluation import backends

    seen = []

    class ColourCheckingFeatures:
        """Per-channel means as features, recording what it was given."""

        name, dim = "test-channel-means", 3

        def features(self, images: np.ndarray) -> np.ndarray:
            seen.append(images)
            return images.reshape(len(images), -1, 3).mean(axis=1) / 255.0 + 1e-3 * np.arange(len(images))[:, None]

    monkeypatch.setattr(backends, "inception_backend", lambda *args, **kwargs: ColourCheckingFeatures())
    assert main(["evaluate", "fid", "--synthetic", str(samples / "samples.npz"), "--dataset", "cifar10",
                 "--data-root", str(root), "--n", "30", "--json", "--out", str(run / "metrics.json")]) == 0
    fid = json.loads(capsys.readouterr().out)
    assert np.isfinite(fid["fid"]) and fid["reference"] == "cifar10:train"
    # Both sides reached the feature extractor in colour, as stored: no grey conversion on the way.
    assert [images.shape[1:] for images in seen] == [(32, 32, 3), (32, 32, 3)]
    np.testing.assert_array_equal(seen[0], data["images"])

    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    assert "resnet20" in page and "fid" in page.lower()


def test_colour_private_data_from_the_public_set_is_refused(tiny_colour_public_model, colour_data_root, tmp_path,
                                                            capsys):
    # The public model's own colour images as 'private' data: refused by content, before anything is encoded.
    out = tmp_path / "ft"
    assert main(finetune_args(tiny_colour_public_model, colour_data_root, out, "data.name=tiny_imagenet32",
                              "data.limit=300", "--dry-run")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "300 of the 300 private images (tiny_imagenet32:train) are in the training data" in err
    assert not list(out.rglob("*.safetensors"))


def test_channel_mismatches_are_one_line_errors(tiny_colour_autoencoder, tiny_colour_public_model,
                                                colour_data_root, tmp_path, capsys):
    assert main(["train-autoencoder", "--config", tiny("tiny_colour_autoencoder"), "--out", str(tmp_path / "ae"),
                 "--set", "model.in_channels=1", "--dry-run"]) == 2
    assert "model.in_channels=1 but data.channels=3" in capsys.readouterr().err
    assert main(["pretrain", "--config", tiny("tiny_colour_ldm"), "--out", str(tmp_path / "ldm"), "--data-root",
                 str(colour_data_root), "--set", f"autoencoder={tiny_colour_autoencoder / 'autoencoder'}",
                 "data.channels=1"]) == 2
    assert "data.channels=1 but the autoencoder takes images with 3 channel(s)" in capsys.readouterr().err
    assert main(finetune_args(tiny_colour_public_model, colour_data_root, tmp_path / "ft", "data.channels=1",
                              "--dry-run")) == 2
    assert "set data.image_size=32 and data.channels=3" in capsys.readouterr().err


def test_a_public_model_not_shipped_yet_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    # A config naming a public model that is not installed (here: none is) gets one line saying how to make it.
    import dpldm.public_models

    monkeypatch.setattr(dpldm.public_models, "CHECKPOINTS", tmp_path / "no_models")
    assert main(["finetune", "--config", "cifar10_finetune", "--out", str(tmp_path / "ft"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "no model at 'tiny_imagenet32'" in err and "dpldm pretrain --config tiny_imagenet32_ldm" in err
    assert not (tmp_path / "ft").exists()
