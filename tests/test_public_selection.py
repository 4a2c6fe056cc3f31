"""`dpldm select-public` end to end through the CLI: a DP choice of public classes, a warm-started pretraining on
them, and a fine-tune from that model whose privacy.json composes both mechanisms."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tiny_configs import tiny

from dpldm.cli.main import main
from dpldm.data.config import DataConfig, load_images
from dpldm.errors import DpldmError
from dpldm.privacy.accountant import composed_epsilon
from dpldm.public_models import resolve_model
from dpldm.public_selection import FACTS_KEY, selected_data


def test_data_classes_keeps_only_those_classes_with_labels_unchanged():
    cfg = DataConfig(name="glyphs", split="train", image_size=8, options={"count": 600, "size": 8})
    full = load_images(cfg)
    some = load_images(DataConfig(**{**cfg.__dict__, "classes": ["B", "Q"]}))
    assert some.class_names == full.class_names
    assert set(np.unique(some.labels)) == {1, 16}
    assert len(some) == int(np.isin(full.labels, [1, 16]).sum())
    with pytest.raises(DpldmError, match="no class 'b'"):
        load_images(DataConfig(**{**cfg.__dict__, "classes": ["b"]}))


def test_selection_applies_only_to_the_public_data_it_chose_among():
    chosen = {"classes": ["A"], "public_data": {"name": "glyphs", "split": "train"}}
    assert selected_data(DataConfig(name="glyphs", split="train"), chosen).classes == ["A"]
    with pytest.raises(DpldmError, match="chose among glyphs:train"):
        selected_data(DataConfig(name="omniglot", split="all"), chosen)


def test_select_pretrain_finetune_composes_the_selection(tmp_path, tiny_public_model, capsys):
    sel = tmp_path / "select"
    assert main(["select-public", "--config", tiny("tiny_select"), "--out", str(sel)]) == 0
    selection = json.loads((sel / "selection.json").read_text())
    privacy = json.loads((sel / "privacy.json").read_text())
    assert len(selection["classes"]) == 3 and len(selection["noisy_counts"]) == 26
    counts = np.array(selection["noisy_counts"])
    assert not np.allclose(counts, counts.round())  # released with noise, never the exact counts
    assert privacy["epsilon"] <= 1.0 and privacy["sample_rate"] == 1.0 and privacy["secret_randomness"] is True
    chosen = [selection["public_class_names"].index(c) for c in selection["classes"]]
    assert sorted(counts[chosen]) == sorted(counts)[-3:]  # the largest noisy bins
    assert (sel / "histogram.png").is_file() and (sel / "selected.png").is_file()
    # A second release into the same folder is refused (it would spend again).
    capsys.readouterr()
    assert main(["select-public", "--config", tiny("tiny_select"), "--out", str(sel)]) != 0
    assert "finished selection" in capsys.readouterr().err

    pre = tmp_path / "pretrain"
    assert main(["pretrain", "--config", tiny("tiny_ldm"), "--out", str(pre), "--set", "autoencoder=null",
                 f"init={tiny_public_model}", f"selection={sel / 'selection.json'}", "train.steps=2"]) == 0
    facts = resolve_model(pre / "model").facts
    assert facts["public_data"]["classes"] == selection["classes"]
    [fact] = facts[FACTS_KEY]
    assert fact["noise_multiplier"] == privacy["noise_multiplier"] and fact["classes"] == selection["classes"]

    ft = tmp_path / "finetune"
    assert main(["finetune", "--config", tiny("tiny_finetune"), "--out", str(ft),
                 "--set", f"public_model={pre / 'model'}"]) == 0
    spent = json.loads((ft / "privacy.json").read_text())
    assert spent["prior"] == [{"noise_multiplier": privacy["noise_multiplier"], "sample_rate": 1.0, "steps": 1}]
    assert spent["epsilon"] == pytest.approx(composed_epsilon(
        [(privacy["noise_multiplier"], 1.0, 1), (spent["noise_multiplier"], spent["sample_rate"], spent["steps"])],
        delta=spent["delta"], accountant=spent["accountant"]))
    assert spent["epsilon"] <= 10.0
    # The private set's ledger holds both releases, composed in one accountant.
    capsys.readouterr()
    assert main(["privacy", "ledger", "digits", "--split", "train", "--json"]) == 0
    ledger = json.loads(capsys.readouterr().out)
    kinds = [e["kind"] for e in ledger["events"] if e["run"] in (str(sel.resolve()), str(ft.resolve()))]
    assert sorted(kinds) == ["dpsgd", "gaussian"]


@pytest.mark.parametrize("overrides, message", [
    (["classes=30"], "has 26 classes"),
    (["private.image_size=28"], "in one shape"),
    (["epsilon=null"], "set epsilon"),
    (["public.classes=[A]"], "public.classes must be null"),
], ids=["more-classes-than-public", "shapes-differ", "no-epsilon-no-sigma", "public-already-limited"])
def test_select_public_refuses_bad_settings_before_any_release(tmp_path, capsys, overrides, message):
    out = tmp_path / "select"
    assert main(["select-public", "--config", tiny("tiny_select"), "--out", str(out), "--set", *overrides]) == 2
    assert message in capsys.readouterr().err
    assert not (out / "selection.json").exists() and not (out / "privacy.json").exists()


def test_pretrain_refuses_a_selection_with_data_classes_too(tmp_path, tiny_public_model, capsys):
    sel = tmp_path / "selection.json"
    sel.write_text(json.dumps({"classes": ["A"], "privacy": {}, "public_data": {"name": "glyphs", "split": "train"}}))
    assert main(["pretrain", "--config", tiny("tiny_ldm"), "--out", str(tmp_path / "pre"), "--set",
                 "autoencoder=null", f"init={tiny_public_model}", f"selection={sel}", "data.classes=[B]"]) == 2
    assert "set data.classes or selection, not both" in capsys.readouterr().err
