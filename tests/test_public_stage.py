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
from tiny_configs import tiny


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def autoencoder(tiny_autoencoder) -> Path:
    metrics = json.loads((tiny_autoencoder / "metrics.json").read_text())
    assert metrics["public_holdout"]["count"] > 0 and np.isfinite(metrics["public_holdout"]["psnr_db"])
    assert (tiny_autoencoder / "reconstructions.png").is_file() and (tiny_autoencoder / "config.yaml").is_file()
    return tiny_autoencoder / "autoencoder"


def pretrain_args(autoencoder: Path, out: Path, steps: int = 6) -> list[str]:
    return ["pretrain", "--config", tiny("tiny_ldm"), "--out", str(out),
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


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    return {p.relative_to(folder).as_posix(): (sha(p), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(argv: list[str], folder: Path, capsys, keys: str) -> None:
    """``dpldm argv`` exits 2 with one line naming ``keys``, and ``folder`` is left exactly as it was."""
    before = snapshot(folder)
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"(changed: {keys}" in err, err
    assert snapshot(folder) == before


def test_public_stages_refuse_other_settings_and_accept_neutral_ones(autoencoder, tmp_path, capsys):
    # Pretraining: another LR is refused; other threads and log/checkpoint intervals resume.
    run = tmp_path / "ldm"
    assert main(pretrain_args(autoencoder, run, steps=3)) == 0
    refused([*pretrain_args(autoencoder, run, steps=3), "train.lr=0.01"], run, capsys, "train.lr 0.001 -> 0.01")
    refused(pretrain_args(autoencoder, run, steps=4), run, capsys, "train.steps 3 -> 4")
    assert main([*pretrain_args(autoencoder, run, steps=3), "train.threads=1", "train.log_every=1"]) == 0
    assert "resuming from step 3" in capsys.readouterr().err

    # The autoencoder: the same; its reconstruction error on private images goes to private/ only.
    ae = tmp_path / "ae"
    args = ["train-autoencoder", "--config", tiny("tiny_autoencoder"), "--out", str(ae), "--set",
            "eval_private=[{name: digits, split: test, image_size: 8}]"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert set(json.loads((ae / "metrics.json").read_text())) == {"public_holdout"}
    assert set(json.loads((ae / "private" / "metrics.json").read_text())) == {"private:digits:test"}
    assert "private:digits:test" not in printed and "private/metrics.json" in printed
    refused([*args, "train.kl_weight=0.001"], ae, capsys, "train.kl_weight 1e-06 -> 0.001")
    assert main([*args, "train.checkpoint_every=1"]) == 0


def test_sample_refuses_to_replace_samples_drawn_otherwise(autoencoder, tmp_path, capsys):
    for name, steps in (("a", 2), ("b", 3)):
        assert main(pretrain_args(autoencoder, tmp_path / name, steps=steps)) == 0
    out = tmp_path / "samples"
    args = ["sample", "--model", str(tmp_path / "a" / "model"), "--out", str(out), "--n-per-class", "1",
            "--steps", "2"]
    assert main(args) == 0
    assert (out / "samples.yaml").is_file()
    refused([*args, "--guidance", "2"], out, capsys, "guidance_scale 1.0 -> 2.0")
    refused(["sample", "--model", str(tmp_path / "b" / "model"), *args[3:]], out, capsys,
            "model_weights ")  # another model
    # The batch size does not change the images (each has its own seed); the same settings redraw the same set.
    images = np.load(out / "samples.npz")["images"]
    assert main([*args, "--batch-size", "7"]) == 0
    assert np.abs(np.load(out / "samples.npz")["images"].astype(int) - images).max() <= 1
    # Samples with no record of their settings (an older dpldm) are not replaced either.
    (out / "samples.yaml").unlink()
    assert main(args) == 2 and "no samples.yaml beside it" in capsys.readouterr().err


def test_warm_start_continues_a_public_model(tiny_public_model, tmp_path, capsys):
    """``init:`` starts from a model's denoiser and scale, with its autoencoder, on more public data: the result
    stays near the init (a fresh start would not), its fingerprint holds both runs' data, and what cannot be
    continued is refused with one line."""
    from dpldm.data.fingerprint import count_in
    from dpldm.data.glyphs import load_glyphs

    init = load_bundle(tiny_public_model)
    more = ["data.options={count: 300, size: 8, seed: 5}"]
    base = ["pretrain", "--config", tiny("tiny_ldm"), "--set", f"init={tiny_public_model}", "autoencoder=null",
            "train.steps=2", "train.lr=1e-6", "train.warmup_steps=1", *more]
    assert main([*base[:3], "--out", str(tmp_path / "warm"), *base[3:]]) == 0
    warm = load_bundle(tmp_path / "warm" / "model")
    assert warm.scale_factor == init.scale_factor
    for name, tensor in init.denoiser.state_dict().items():
        torch.testing.assert_close(warm.denoiser.state_dict()[name], tensor, atol=1e-4, rtol=0)
    for ours, theirs in zip(warm.vae.state_dict().values(), init.vae.state_dict().values()):
        assert torch.equal(ours, theirs)
    new = load_glyphs(Path("."), "train", count=300, size=8, seed=5).images
    assert count_in(new, warm.public_hashes) == len(new)  # this run's data, and the init's
    assert set(init.public_hashes.tolist()) <= set(warm.public_hashes.tolist())
    assert warm.facts["init"]["model"] == str(tiny_public_model)
    assert warm.facts["public_hashes"]["stages"][-1] == f"pretrain (from {tiny_public_model})"

    for extra, words in ((["autoencoder=runs/x"], "brings its own autoencoder"),
                         (["unet.attention_head_dim=4"], "unet settings differ"),
                         (["data.options={count: 300, size: 8, include_digits: true}"], "classes")):
        capsys.readouterr()
        assert main([*base[:3], "--out", str(tmp_path / "refused"), *base[3:], *extra]) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1, err
    capsys.readouterr()
    assert main(["pretrain", "--config", tiny("tiny_ldm"), "--out", str(tmp_path / "none"),
                 "--set", "autoencoder=null"]) == 2
    assert "needs init" in capsys.readouterr().err


def test_a_warm_start_can_take_the_unet_only_under_a_new_text_conditioner(tiny_public_model, tmp_path, capsys):
    """``init_parts: unet``: a class-conditional model's UNet starts a text-conditional one (new conditioner, new
    classes); without it the changed conditioning is refused, with the way out in the one line."""
    init = load_bundle(tiny_public_model)
    base = ["pretrain", "--config", tiny("tiny_text_ldm"), "--set", f"init={tiny_public_model}", "autoencoder=null",
            "train.steps=2", "train.lr=1e-6", "train.warmup_steps=1",
            "data.options={count: 300, size: 8, include_digits: true, seed: 5}"]
    assert main([*base[:3], "--out", str(tmp_path / "refused"), *base[3:]]) == 2
    err = capsys.readouterr().err
    assert "conditioning settings differ" in err and "init_parts: unet" in err and err.count("\n") == 1, err
    assert main([*base[:3], "--out", str(tmp_path / "text"), *base[3:], "init_parts=unet"]) == 0
    text = load_bundle(tmp_path / "text" / "model")
    assert text.text and len(text.class_names) == 36 and text.scale_factor == init.scale_factor
    for name, tensor in init.denoiser.unet.state_dict().items():
        torch.testing.assert_close(text.denoiser.unet.state_dict()[name], tensor, atol=1e-4, rtol=0)
    assert text.facts["init"]["parts"] == "unet"
    assert set(init.public_hashes.tolist()) <= set(text.public_hashes.tolist())
    assert main([*base[:3], "--out", str(tmp_path / "bad"), *base[3:], "init_parts=head"]) == 2
    assert "init_parts must be" in capsys.readouterr().err


def test_a_warm_started_model_ships_with_its_parents_record(tiny_autoencoder, tiny_public_model, tmp_path,
                                                            monkeypatch):
    """Packaging: a model made from scratch needs its autoencoder run; a warm-started one takes its autoencoder's
    record and commands from the shipped model it started from, and both load by name."""
    import dpldm.public_models as public_models
    from dpldm.errors import DpldmError

    monkeypatch.setattr(public_models, "CHECKPOINTS", tmp_path / "checkpoints")
    parent = public_models.package("parent", autoencoder_run=tiny_autoencoder, ldm_run=tiny_public_model.parent,
                                   commands=["train parent"])
    assert main(["pretrain", "--config", tiny("tiny_ldm"), "--out", str(tmp_path / "warm"), "--set", "init=parent",
                 "autoencoder=null", "train.steps=2", "data.options={count: 300, size: 8, seed: 5}"]) == 0
    with pytest.raises(DpldmError, match="none for one warm-started"):
        public_models.package("child", autoencoder_run=tiny_autoencoder, ldm_run=tmp_path / "warm", commands=[])
    child = public_models.package("child", autoencoder_run=None, ldm_run=tmp_path / "warm", commands=["warm child"])
    manifests = [json.loads((f / "manifest.json").read_text()) for f in (parent, child)]
    assert manifests[1]["init"] == "parent" and manifests[1]["commands"] == ["train parent", "warm child"]
    assert manifests[1]["autoencoder_metrics"] == manifests[0]["autoencoder_metrics"]
    assert manifests[1]["configs"]["autoencoder"] == manifests[0]["configs"]["autoencoder"]
    assert manifests[1]["steps"] == {"autoencoder": manifests[0]["steps"]["autoencoder"], "pretrain": 2}
    assert public_models.resolve_model("child").facts["init"]["model"] == "parent"
