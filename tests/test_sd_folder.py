"""Stable-Diffusion-format folders: a tiny random model of SD's classes, saved in SD's layout, goes through load ->
select -> DP fine-tuning on captioned private images -> save -> reload -> sampling, on the CPU, through the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from dpldm.cli.main import main
from dpldm.errors import DpldmError
from dpldm.finetune.trainable import TrainableSpec, merge_lora, select_trainable
from dpldm.models.unet import transformer_blocks
from dpldm.public_models import resolve_model
from dpldm.sd_folder import is_sd_folder, write_random_sd_folder

CAPTIONS = [f"a {colour} square, token {i:02d}x" for i, colour in enumerate(["red", "blue"] * 12)]


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory) -> Path:
    return write_random_sd_folder(tmp_path_factory.mktemp("sd") / "model", preset="tiny")


@pytest.fixture(scope="module")
def captioned_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("private_captions")
    rows = []
    for i, text in enumerate(CAPTIONS):
        img = np.zeros((16, 16, 3), np.uint8)
        img[4:12, 4:12, 0 if "red" in text else 2] = 150 + 4 * i
        Image.fromarray(img).save(folder / f"{i}.png")
        rows.append((f"{i}.png", text))
    with open(folder / "captions.csv", "w", newline="") as f:
        csv.writer(f).writerows([("file", "text"), *rows])
    return folder


@pytest.fixture(scope="module")
def finetuned(tiny_sd, captioned_folder, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("sd_run")
    config = run.parent / "sd_finetune.yaml"
    config.write_text(
        f"public_model: {tiny_sd}\n"
        f"data: {{name: captions, split: all, image_size: 16, channels: 3, options: {{path: {captioned_folder}}}}}\n"
        "holdout_validation: false\n"
        "trainable: {modules: transformer_blocks, from_block: 5}\n"
        "dp: {epsilon: 10.0, delta: 0.00001, max_grad_norm: 1.0, expected_batch_size: 8, steps: 2, "
        "max_physical_batch: 8, seed: 1}\n"
        f"train: {{lr: 0.01, log_every: 1, checkpoint_every: 2}}\nout_dir: {run}\n")
    assert main(["finetune", "--config", str(config)]) == 0
    return run


def test_loads_the_sd_layout(tiny_sd):
    model = resolve_model(tiny_sd)
    assert model.format == "diffusers-sd" and model.text
    assert (model.image_size, model.channels, model.latent_shape) == (16, 3, (4, 8, 8))
    assert model.scale_factor == pytest.approx(0.18215)
    assert model.diffusion.beta_schedule == "scaled_linear"
    assert len(transformer_blocks(model.denoiser.unet)) == 7  # 2 down + mid + 2x2 up
    ids = model.denoiser.conditioner.tokenize(["a red square"])
    out = model.denoiser(torch.randn(1, 4, 8, 8), torch.tensor([3]), ids)
    assert out.shape == (1, 4, 8, 8) and torch.isfinite(out).all()


def test_trainable_spec_selects_sd_attention(tiny_sd):
    model = resolve_model(tiny_sd)
    names = select_trainable(model.denoiser, TrainableSpec(modules="transformer_blocks", from_block=5))
    assert names == [f"unet.{n}" for n, _ in transformer_blocks(model.denoiser.unet)[4:]]
    trained = {n for n, p in model.denoiser.named_parameters() if p.requires_grad}
    chosen = ("unet.up_blocks.0.attentions.1.", "unet.up_blocks.1.attentions.")  # blocks 5, 6 and 7
    assert trained and all(n.startswith(chosen) for n in trained)
    assert not any(p.requires_grad for p in model.denoiser.conditioner.parameters())  # CLIP frozen, no projector
    # LoRA on the same blocks: adapters only, merged back to SD's own module names.
    model = resolve_model(tiny_sd)
    before = set(model.denoiser.state_dict())
    names = select_trainable(model.denoiser, TrainableSpec(from_block=5, lora_rank=2))
    assert names and all("LoRA r=2" in n for n in names)
    assert all("lora_" in n for n, p in model.denoiser.named_parameters() if p.requires_grad)
    assert merge_lora(model.denoiser) > 0 and set(model.denoiser.state_dict()) == before


def test_v_prediction_is_refused(tiny_sd, tmp_path):
    import shutil

    copy = shutil.copytree(tiny_sd, tmp_path / "v")
    path = copy / "scheduler" / "scheduler_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "prediction_type": "v_prediction"}))
    with pytest.raises(DpldmError, match="eps-prediction"):
        resolve_model(copy)


def test_dp_finetune_saves_an_sd_folder_that_reloads(tiny_sd, finetuned):
    out = finetuned / "model"
    assert is_sd_folder(out) and all((out / part).is_dir() for part in ("unet", "vae", "text_encoder", "tokenizer",
                                                                         "scheduler"))
    facts = json.loads((out / "dpldm.json").read_text())
    assert facts["privacy"]["epsilon"] <= 10.0 and facts["finetune_steps"] == 2
    model = resolve_model(out)
    assert model.format == "diffusers-sd" and model.facts["privacy"]["epsilon"] == facts["privacy"]["epsilon"]
    # Only the chosen blocks moved; the rest of the UNet, the VAE and the text encoder are bit-identical.
    for part, weights in (("unet", "diffusion_pytorch_model.safetensors"), ("vae", "diffusion_pytorch_model.safetensors"),
                          ("text_encoder", "model.safetensors")):
        old, new = load_file(tiny_sd / part / weights), load_file(out / part / weights)
        assert old.keys() == new.keys()
        moved = {k for k in old if not torch.equal(old[k], new[k])}
        if part == "unet":
            assert moved and all(k.startswith(("up_blocks.0.attentions.1.", "up_blocks.1.attentions.")) for k in moved)
        else:
            assert not moved, part
    # The saved folder is what diffusers itself reads as a Stable Diffusion pipeline.
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(out, local_files_only=True, safety_checker=None,
                                                   feature_extractor=None, requires_safety_checker=False)
    assert pipe.unet.config.cross_attention_dim == 32
    # A changed file is refused (dpldm.json holds every file's sha256).
    (out / "scheduler" / "scheduler_config.json").write_text(
        (out / "scheduler" / "scheduler_config.json").read_text() + " ")
    with pytest.raises(DpldmError, match="sha256"):
        resolve_model(out)


def test_private_captions_stay_private(finetuned):
    for path in finetuned.rglob("*"):
        if path.is_file() and "private" not in path.relative_to(finetuned).parts:
            content = path.read_bytes()
            assert not any(text.encode() in content for text in CAPTIONS), path


def test_sample_from_the_sd_folder_with_prompts(tiny_sd, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red square\n\na blue square\n")
    out = tmp_path / "samples"
    assert main(["sample", "--model", str(tiny_sd), "--prompts", str(prompts), "--n-per-class", "2", "--steps", "2",
                 "--guidance", "3", "--out", str(out), "--device", "cpu"]) == 0
    with np.load(out / "samples.npz") as f:
        assert f["images"].shape == (4, 16, 16, 3)
        assert list(f["labels"]) == [0, 0, 1, 1]
        assert list(f["class_names"]) == ["a red square", "a blue square"]
    # A class-conditional request of a text model is one line, not a traceback.
    assert main(["sample", "--model", str(tiny_sd), "--out", str(tmp_path / "none"), "--steps", "2"]) == 2
