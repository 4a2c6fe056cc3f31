"""Hostile and broken input, tried as a new user would: every case ends in a one-line error naming the file or key
(exit 2, no traceback) or in a stated safe behaviour, and nothing saved earlier is lost. TESTING.md lists them.

The fine-tuning cases run the tiny public model on the built-in digits; most are refused before any training.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dpldm.bundle import load_bundle, save_bundle
from dpldm.cli.main import main
from dpldm.models.autoencoder import AutoencoderConfig, build_autoencoder
from dpldm.training.guards import non_finite
from dpldm.training.latents import cached_latents
from tiny_configs import tiny

AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0  # root writes through permission bits


def refused(capsys, argv: list[str], *needles: str) -> str:
    """Run ``dpldm argv``; it must exit 2 with one error line (after any progress bar) holding every needle."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    line = lines[0][lines[0].index(f"dpldm {argv[0]}: error:"):]
    for needle in needles:
        assert needle in line, line
    return line


def usage_error(capsys, argv: list[str], *needles: str) -> str:
    """A bad option value: argparse's exit 2 with its usage and one error line, before anything runs."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    line = err.strip().splitlines()[-1]
    for needle in needles:
        assert needle in line, line
    return line


def finetune_argv(model: Path, out: Path, *overrides: str) -> list[str]:
    return ["finetune", "--config", tiny("tiny_finetune"), "--out", str(out), "--set", f"public_model={model}",
            "dp.seed=0", *overrides]


def written(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# --- privacy: delta ------------------------------------------------------------------------------------------

def test_finetune_refuses_delta_of_1_over_n_before_encoding_private_data(tiny_public_model, tmp_path, capsys):
    out = tmp_path / "ft"
    refused(capsys, finetune_argv(tiny_public_model, out, "dp.delta=0.5"), "dp.delta 0.5", "1/N",
            "dp.allow_large_delta")
    assert not [name for name in written(out) if name.endswith(".safetensors")]  # no private latents, no model


def test_finetune_with_allow_large_delta_still_refuses_a_negative_epsilon(tiny_public_model, tmp_path, capsys):
    out = tmp_path / "ft"
    refused(capsys, finetune_argv(tiny_public_model, out, "dp.delta=0.5", "dp.allow_large_delta=true"),
            "negative epsilon")
    assert not (out / "privacy.json").exists() and not (out / "model").exists()


@pytest.mark.parametrize("argv, needles", [
    (["--sample-rate", "0.05", "--delta", "0.5"], ("--delta 0.5", "sample rate", "--allow-large-delta")),
    (["--batch-size", "10", "--dataset-size", "100", "--delta", "0.02"], ("1/dataset size", "--allow-large-delta")),
    (["--sample-rate", "0.05", "--delta", "0.5", "--allow-large-delta"], ("negative epsilon",)),
    (["--sample-rate", "0.05", "--delta", "1"], ("delta must be in (0, 1)",)),
], ids=["delta-over-q", "delta-over-1/N", "negative-epsilon-with-override", "delta-1"])
def test_privacy_refuses_large_delta_and_never_prints_a_negative_epsilon(capsys, argv, needles):
    line = refused(capsys, ["privacy", "--noise-multiplier", "0.1", "--steps", "4", *argv], *needles)
    assert "-0.6" not in line


def test_accountant_refuses_the_negative_epsilon_it_computes():
    from dpldm.privacy.accountant import AccountingFailure, _epsilon, epsilon

    assert _epsilon("prv", 0.1, 0.05, 4, 0.5) < 0  # the library's own answer, which must never be reported
    with pytest.raises(AccountingFailure, match="negative epsilon"):
        epsilon(noise_multiplier=0.1, sample_rate=0.05, steps=4, delta=0.5, accountant="prv")


def test_plan_refuses_delta_of_1_over_n_unless_allowed():
    from dpldm.dp import DPConfig, make_plan
    from dpldm.errors import DpldmError

    config = DPConfig(epsilon=None, noise_multiplier=1.0, delta=0.01, steps=3, expected_batch_size=10,
                      accountant="rdp")
    with pytest.raises(DpldmError, match="dp.allow_large_delta"):
        make_plan(config, dataset_size=100)  # delta = 1/N
    assert make_plan(config, dataset_size=99).delta == 0.01  # just below 1/N
    allowed = DPConfig(**{**config.__dict__, "allow_large_delta": True})
    assert make_plan(allowed, dataset_size=100).epsilon > 0


# --- training settings and non-finite weights ----------------------------------------------------------------

@pytest.mark.parametrize("override, needles", [
    ("train.lr=.inf", ("lr must be a finite number",)),
    ("train.lr=nan", ("'train.lr' must be a number, got nan",)),
    ("train.lr=-1e-3", ("lr must be > 0",)),
    ("train.lr=1e300", ("lr must be > 0 and <= 1e+06",)),
    ("train.checkpoint_every=0", ("checkpoint_every must be >= 1",)),
    ("train.ema_decay=1", ("ema_decay must be >= 0 and < 1",)),
    ("train.label_dropout=1.5", ("label_dropout",)),
    ("dp.max_grad_norm=.inf", ("max_grad_norm",)),
    ("dp.epsilon=.nan", ("'dp.epsilon' must be", "nan")),
], ids=lambda v: v if isinstance(v, str) else None)
def test_finetune_settings_are_refused_before_anything_is_written(tiny_public_model, tmp_path, capsys, override,
                                                                   needles):
    out = tmp_path / "ft"
    refused(capsys, finetune_argv(tiny_public_model, out, override), *needles)
    assert not out.exists()  # the config is checked before the run folder is made or private data is read


def test_finetune_stops_when_a_weight_becomes_non_finite(tiny_public_model, tmp_path, capsys):
    out = tmp_path / "ft"
    refused(capsys, finetune_argv(tiny_public_model, out, "train.lr=1e6"), "training stopped at step",
            "NaN or infinite", "train.lr")
    assert not (out / "model").exists() and not (out / "privacy.json").exists()  # nothing NaN is released


def test_non_finite_matches_an_element_by_element_check():
    torch.manual_seed(0)
    for trial in range(20):
        params = [torch.randn(3, 4), torch.randn(5)]
        if trial % 3:
            params[trial % 2].view(-1)[trial % 5] = [float("nan"), float("inf"), -float("inf")][trial % 3]
        slow = any(not np.isfinite(float(x)) for p in params for x in p.view(-1))  # one element at a time
        assert non_finite(params) == slow


def test_pretrain_stops_on_a_non_finite_loss_or_weight(tiny_autoencoder, tmp_path, capsys):
    out = tmp_path / "ldm"
    refused(capsys, ["pretrain", "--config", tiny("tiny_ldm"), "--out", str(out), "--set",
                     f"autoencoder={tiny_autoencoder / 'autoencoder'}", "train.lr=1e6", "train.grad_clip=1e30",
                     "train.steps=6"], "training stopped at step", "NaN or infinite")
    assert not (out / "model").exists()


# --- sampling ------------------------------------------------------------------------------------------------

def sample_argv(model: Path, out: Path, *extra: str) -> list[str]:
    return ["sample", "--model", str(model), "--out", str(out), "--n-per-class", "1", "--steps", "2", *extra]


@pytest.mark.parametrize("extra, needles", [
    (["--guidance", "nan"], ("--guidance", "finite")),
    (["--guidance", "inf"], ("--guidance", "finite")),
    (["--eta", "nan"], ("--eta", "finite")),
    (["--steps", "0"], ("--steps", "at least 1")),
    (["--n-per-class", "-3"], ("--n-per-class", "at least 1")),
], ids=["guidance-nan", "guidance-inf", "eta-nan", "steps-0", "n-negative"])
def test_sample_option_values_are_refused_by_the_parser(tiny_public_model, tmp_path, capsys, extra, needles):
    out = tmp_path / "samples"
    usage_error(capsys, sample_argv(tiny_public_model, out, *extra), *needles)
    assert not out.exists()


@pytest.mark.parametrize("extra, needles", [
    (["--classes", "42"], ("--classes 42", "numbered 0..")),
    (["--classes", "-1"], ("--classes -1",)),
    (["--steps", "2000"], ("2000 sampler steps", "at most 999")),
    (["--steps", "1000"], ("1000 sampler steps", "ddim", "at most 999")),  # DDIM's offset 1: t = 1000 is outside
    (["--steps", "1001", "--sampler", "ddpm"], ("1001 sampler steps", "at most 1000")),
    (["--eta", "2"], ("eta must be in [0, 1]",)),
    (["--sampler", "dpmpp", "--clip-latents", "3"], ("clip_latents works with the ddim and ddpm samplers",)),
], ids=["class-42", "class-minus-1", "steps-over-T", "ddim-steps-T", "ddpm-steps-over-T", "eta-2", "dpmpp-clip"])
def test_sample_arguments_checked_against_the_model_before_work(tiny_public_model, tmp_path, capsys, extra, needles):
    out = tmp_path / "samples"
    refused(capsys, sample_argv(tiny_public_model, out, *extra), *needles)
    assert not out.exists()


def test_sample_into_a_path_under_a_file_is_refused(tiny_public_model, tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("keep me")
    refused(capsys, sample_argv(tiny_public_model, blocker / "samples"), str(blocker / "samples"), "cannot write")
    refused(capsys, sample_argv(tiny_public_model, blocker), str(blocker), "not a folder")
    assert blocker.read_text() == "keep me"


@pytest.mark.skipif(AS_ROOT, reason="root writes into read-only folders")
def test_read_only_output_folders_are_one_line_errors(tiny_public_model, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        refused(capsys, sample_argv(tiny_public_model, locked), str(locked), "cannot write")
        refused(capsys, finetune_argv(tiny_public_model, locked / "ft"), "Permission denied")
    finally:
        locked.chmod(0o755)


def test_finetune_into_a_path_under_a_file_is_a_one_line_error(tiny_public_model, tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("keep me")
    refused(capsys, finetune_argv(tiny_public_model, blocker / "ft"), str(blocker))
    assert blocker.read_text() == "keep me"


# --- model folders -------------------------------------------------------------------------------------------

def edited_model(model: Path, tmp_path: Path, edit) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(model, folder)
    facts = json.loads((folder / "model.json").read_text())
    edit(facts)
    (folder / "model.json").write_text(json.dumps(facts))
    return folder


@pytest.mark.parametrize("edit, needles", [
    (lambda f: f.pop("sha256"), ("model.json", "'sha256'")),
    (lambda f: f["sha256"].pop("denoiser.safetensors"), ("no sha256 of denoiser.safetensors",)),
    (lambda f: f.pop("class_names"), ("'class_names'",)),
    (lambda f: f.update(class_names=[]), ("'class_names' must be a non-empty list",)),
    (lambda f: f["unet"].update(sample_size="big"), ("'unet.sample_size' must be an integer",)),
    (lambda f: f["unet"].update(block_out_channels=[8, 8]), ("denoiser.safetensors", "do not fit")),
], ids=["no-sha256", "no-denoiser-sha256", "no-class-names", "empty-class-names", "bad-unet-type",
        "weights-do-not-fit"])
def test_broken_model_json_is_a_one_line_error(tiny_public_model, tmp_path, capsys, edit, needles):
    folder = edited_model(tiny_public_model, tmp_path, edit)
    refused(capsys, sample_argv(folder, tmp_path / "samples"), *needles)


def test_model_json_that_is_not_json_is_a_one_line_error(tiny_public_model, tmp_path, capsys):
    folder = tmp_path / "model"
    shutil.copytree(tiny_public_model, folder)
    (folder / "model.json").write_text('{"format": "dpldm-latent')
    refused(capsys, sample_argv(folder, tmp_path / "samples"), "model.json", "not valid JSON")


def test_model_with_nan_weights_is_refused(tiny_public_model, tmp_path, capsys):
    model = load_bundle(tiny_public_model)
    with torch.no_grad():
        next(model.denoiser.parameters()).view(-1)[0] = float("nan")
    folder = save_bundle(tmp_path / "nan-model", model)  # a consistent sha256, of NaN weights
    refused(capsys, sample_argv(folder, tmp_path / "samples"), "denoiser.safetensors", "NaN or infinite")


# --- data ----------------------------------------------------------------------------------------------------

def write_npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def images(n: int, *shape: int, dtype=np.uint8) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, *(shape or (8, 8)))).astype(dtype)


def show(path: Path) -> list[str]:
    return ["data", "show", "npz", "--split", "all", "--option", f"path={path}"]


@pytest.mark.parametrize("arrays, needles", [
    (dict(x=images(20), y=np.r_[np.arange(19) % 10, 15]), ("label 15 is out of sequence", "'classes'")),
    (dict(x=images(20), y=np.r_[np.arange(19) % 10, -1]), ("label -1 is out of sequence",)),
    (dict(x=images(0), y=np.zeros(0, np.int64)), ("holds no images",)),
    (dict(x=images(4, dtype=np.float32), y=np.arange(4)), ("must be uint8", "float32")),
    (dict(x=np.full((4, 8, 8), np.nan), y=np.arange(4)), ("must be uint8", "float64")),
    (dict(x=images(4, 8, 8, 4), y=np.arange(4)), ("shape (4, 8, 8, 4)",)),
    (dict(x=images(4, 64), y=np.arange(4)), ("shape (4, 64)",)),
    (dict(x=images(4), y=np.array([0.0, 1.0, np.nan, 1.0])), ("'y' must be a 1-D integer array",)),
    (dict(x=images(4), y=np.arange(3)), ("4 images but 3 labels",)),
], ids=["label-15-of-0..9", "label-minus-1", "empty", "float32", "nan-filled", "rgba", "flat-rows", "nan-labels",
        "label-count"])
def test_bad_user_arrays_are_one_line_errors(tmp_path, capsys, arrays, needles):
    path = write_npz(tmp_path / "mine.npz", **arrays)
    refused(capsys, show(path), str(path), *needles)


def test_stray_label_with_class_names_is_kept_as_named(tmp_path, capsys):
    y = np.r_[np.arange(19) % 10, 15]
    path = write_npz(tmp_path / "mine.npz", x=images(20), y=y, classes=np.array([f"c{i}" for i in range(16)]))
    assert main(show(path)) == 0
    assert "16 classes" in capsys.readouterr().out  # the user named 16 classes; nothing grows behind their back


def test_truncated_and_foreign_npz_files_are_one_line_errors_without_delete_advice(tmp_path, capsys):
    path = write_npz(tmp_path / "mine.npz", x=images(20), y=np.arange(20) % 2)
    path.write_bytes(path.read_bytes()[:-100])
    line = refused(capsys, show(path), str(path), "not a readable .npz archive")
    assert "delete" not in line
    np.save(tmp_path / "array.npy", images(3))
    (tmp_path / "array.npy").rename(path)
    refused(capsys, show(path), str(path), "one .npy array, not an .npz archive")


def test_unreadable_npz_says_cannot_read_not_truncated(tmp_path, capsys, monkeypatch):
    path = write_npz(tmp_path / "mine.npz", x=images(4), y=np.arange(4) % 2)

    def denied(*args, **kwargs):  # what np.load raises on a file without read permission (root bypasses chmod)
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(np, "load", denied)
    line = refused(capsys, show(path), str(path), "cannot read (Permission denied)")
    assert "truncated" not in line and "delete" not in line


def test_private_set_smaller_than_the_expected_batch_is_refused(tiny_public_model, tmp_path, capsys):
    path = write_npz(tmp_path / "few.npz", x=images(30), y=np.arange(30) % 3)
    out = tmp_path / "ft"
    refused(capsys, finetune_argv(tiny_public_model, out, "data.name=npz", "data.split=all",
                                  f"data.options={{path: {path}}}", "holdout_validation=false"),
            "dp.expected_batch_size 64 exceeds the dataset size 30")
    assert not [name for name in written(out) if name.endswith(".safetensors")]


def test_wrong_image_size_for_the_model_is_refused(tiny_public_model, tmp_path, capsys):
    refused(capsys, finetune_argv(tiny_public_model, tmp_path / "ft", "data.image_size=16"),
            "data.image_size=8")


def test_image_folder_with_mixed_sizes_asks_for_the_size_option(tmp_path, capsys):
    for name, size in (("a", 8), ("b", 12)):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        Image.fromarray(images(1, size, size)[0]).save(tmp_path / "imgs" / name / "x.png")
    refused(capsys, ["data", "show", "folder", "--split", "all", "--option", f"path={tmp_path / 'imgs'}"],
            "size=N")


def test_truncated_png_in_an_image_folder_is_named(tmp_path, capsys):
    (tmp_path / "imgs" / "a").mkdir(parents=True)
    bad = tmp_path / "imgs" / "a" / "x.png"
    Image.fromarray(images(1, 64, 64, 3)[0]).save(bad)
    bad.write_bytes(bad.read_bytes()[:300])
    refused(capsys, ["data", "show", "folder", "--split", "all", "--option", f"path={tmp_path / 'imgs'}"],
            str(bad), "truncated or corrupt image")


def test_16_bit_png_is_scaled_to_8_bits_not_clipped_white(tmp_path):
    from dpldm.data.folder import decode_files

    wide = (np.arange(64, dtype=np.uint16) * 1000).reshape(8, 8)
    path = tmp_path / "wide.png"
    Image.fromarray(wide).save(path)
    assert Image.open(path).mode.startswith("I;16")
    decoded = decode_files([path])[0]
    expected = np.round(wide / 257.0).astype(np.uint8)  # 16-bit 0..65535 -> 8-bit 0..255
    np.testing.assert_array_equal(decoded, expected)
    assert (decoded < 255).sum() > 50  # Pillow's own convert('L') made all but one pixel 255


def test_data_list_with_a_missing_root_is_an_error(capsys):
    refused(capsys, ["data", "list", "--data-root", "/does/not/exist"], "/does/not/exist", "--data-root",
            "not a folder")


# --- damaged caches and parts --------------------------------------------------------------------------------

def test_truncated_latent_cache_is_encoded_again_not_a_traceback(tmp_path):
    vae = build_autoencoder(AutoencoderConfig(in_channels=1, latent_channels=3, block_out_channels=(8, 16),
                                              norm_num_groups=8)).eval()
    x = torch.rand(6, 1, 8, 8) * 2 - 1
    path = tmp_path / "latents.safetensors"
    first = cached_latents(path, "key", vae, x, progress=False)
    path.write_bytes(path.read_bytes()[:50])  # a resume after a damaged copy or a full disk
    with pytest.warns(UserWarning, match="latent cache unreadable"):
        again = cached_latents(path, "key", vae, x, progress=False)
    torch.testing.assert_close(again, first)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rewritten cache is read back without a warning
        torch.testing.assert_close(cached_latents(path, "key", vae, x, progress=False), first)


def test_damaged_sample_part_is_named(tiny_public_model, tmp_path):
    from dpldm.errors import DpldmError
    from dpldm.synthesis import SampleConfig, generate_in_parts, image_seeds

    model = load_bundle(tiny_public_model)
    labels = np.array([0, 1, 2, 3])
    cfg = SampleConfig(steps=2)
    generate_in_parts(model, labels, image_seeds(0, 4), cfg, tmp_path / "parts", part_size=2, progress=False)
    part = sorted((tmp_path / "parts").glob("part-*.npz"))[0]
    part.write_bytes(part.read_bytes()[:100])
    with pytest.raises(DpldmError, match="unreadable part"):
        generate_in_parts(model, labels, image_seeds(0, 4), cfg, tmp_path / "parts", part_size=2, progress=False)
