"""The private validation split is bound to the model: model.json records it, evaluation reads it and refuses a
split the generator trained on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from torch import nn

from dpldm.cli.main import main
from dpldm.config import load_config
from dpldm.data import load_dataset
from dpldm.errors import DpldmError
from dpldm.evaluation.accuracy import AccuracyConfig, evaluate_accuracy
from dpldm.evaluation.classifiers import ClassifierSpec, TrainRecipe
from dpldm.data.validation_split import private_validation_split, split_facts
from dpldm.evaluation.split_binding import free_split_key, read_model_facts
from dpldm.finetune.stage import FinetuneConfig, prepare_finetune
from tiny_configs import tiny

TINY = ClassifierSpec("tiny", lambda *, in_channels, num_classes, image_size: nn.Sequential(
    nn.Flatten(), nn.Linear(in_channels * image_size ** 2, num_classes)), None,
    TrainRecipe(epochs=2, batch_size=32, lr=2e-2))


def key(model: dict | None, requested: int | None = None, *, synthetic: str = "s.npz", dataset: str = "mnist") -> int:
    return free_split_key(synthetic=synthetic, dataset=dataset, model=model, requested=requested)


def test_the_model_key_is_used_and_another_is_refused(held_out) -> None:
    assert key(held_out(key=3)) == 3 and key(held_out(key=3), 3) == 3
    with pytest.raises(DpldmError, match="split key 0 was not held out.*the free split is key 3"):
        key(held_out(key=3), 0)


@pytest.mark.parametrize("facts, message", [
    (lambda f: None, "needs the generator's model"),
    (lambda f: f(holdout=False), "holdout_validation is false"),
    (lambda f: {"private_data": {"name": "mnist", "split": "train"}}, "does not record holdout_validation"),
    (lambda f: f("digits"), "fine-tuned on digits:train, not on mnist:train"),
    (lambda f: {**f(), "private_data": {"name": "mnist", "split": "train", "options": {"a": 1}}}, "options"),
    (lambda f: {**f(), "validation_split": {**split_facts(0), "scheme": "index-permutation"}}, "not this version"),
    (lambda f: {"public_data": {"name": "mnist", "split": "train"}}, "pretrained on mnist:train as public data"),
])
def test_no_free_split_is_an_error_that_says_why(facts, message: str, held_out) -> None:
    with pytest.raises(DpldmError, match=message):
        key(facts(held_out))


def test_a_public_generator_and_a_real_training_set_leave_every_split_free() -> None:
    assert key({"public_data": {"name": "omniglot", "split": "train"}}, 5) == 5
    assert key(None, synthetic="real:mnist:train") == 0 and key(None, 2, synthetic="real:mnist:train") == 2


def test_read_model_facts_from_a_model_folder_or_its_run_folder(tmp_path: Path, held_out) -> None:
    (tmp_path / "run" / "model").mkdir(parents=True)
    (tmp_path / "run" / "model" / "model.json").write_text(json.dumps(held_out(key=4)))
    assert read_model_facts(tmp_path / "run")["validation_split"]["key"] == 4
    assert read_model_facts(tmp_path / "run" / "model") == read_model_facts(tmp_path / "run")
    with pytest.raises(DpldmError, match="no model.json"):
        read_model_facts(tmp_path)


def test_finetune_records_its_split_and_evaluation_selects_on_exactly_that_split(tiny_public_model: Path,
                                                                                tmp_path: Path) -> None:
    """The issue's case: data.seed=1 held out key 1's split; selecting on key 0's split would score on records the
    generator trained on, so it is refused, and the default uses key 1."""
    out = tmp_path / "ft"
    overrides = [f"public_model={tiny_public_model}", "data.seed=1"]
    assert main(["finetune", "--config", tiny("tiny_finetune"), "--out", str(out), "--set", *overrides]) == 0
    facts = json.loads((out / "model" / "model.json").read_text())
    assert facts["holdout_validation"] is True and facts["validation_split"] == split_facts(1)

    # The split evaluation uses is exactly the one fine-tuning left out.
    cfg = load_config(FinetuneConfig, out / "config.yaml")  # the run's resolved config
    held_out = prepare_finetune(cfg, encode=False).validation_index
    private = load_dataset("digits", "train")
    assert held_out == private_validation_split(private.images, private.labels, 1)[1].tolist()
    assert set(held_out) != set(private_validation_split(private.images, private.labels, 0)[1].tolist())

    test = load_dataset("digits", "test")
    npz = tmp_path / "samples.npz"
    np.savez(npz, images=test.images[:100], labels=test.labels[:100])
    result = evaluate_accuracy(str(npz), dataset="digits", config=AccuracyConfig(epochs=2), model=facts,
                               specs=[TINY])
    assert result["selection"]["split_key"] == 1 and result["n_validation"] == len(held_out)
    with pytest.raises(DpldmError, match="split key 0 was not held out.*the free split is key 1"):
        evaluate_accuracy(str(npz), dataset="digits", config=AccuracyConfig(epochs=2, split_seed=0), model=facts,
                          specs=[TINY])
