"""The accuracy pipeline with a tiny classifier on learnable and on shuffled labels; classifier shapes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from dpldm.evaluation.accuracy import AccuracyConfig, evaluate_accuracy
from dpldm.evaluation.classifiers import ClassifierSpec, DpdmCnn, TrainRecipe
from dpldm.evaluation.resnets import CifarResNet, ResNeXt, WideResNet


def tiny_linear(*, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size * image_size, num_classes))


TINY = ClassifierSpec("tiny", tiny_linear, None, TrainRecipe(epochs=4, batch_size=32, lr=2e-2))


def run(synthetic: str, root: Path, **config) -> dict:
    return evaluate_accuracy(synthetic, dataset="mnist", config=AccuracyConfig(**config), data_root=str(root),
                             specs=[TINY])


def test_learnable_labels_give_high_accuracy(synthetic_npz: Path, tiny_root: Path) -> None:
    result = run(str(synthetic_npz), tiny_root, seeds=(0, 1))
    assert result["mean"] > 90.0
    assert len(result["runs"]) == 2 and result["n_test"] == 200 and result["n_validation"] == 20
    assert 1 <= result["runs"][0]["selected_epoch"] <= 4
    assert result["selection"]["kind"] == "private-val" and "1-DP" in result["selection"]["statement"]


def test_shuffled_labels_give_chance(synthetic_npz: Path, tiny_root: Path, tmp_path: Path) -> None:
    data = np.load(synthetic_npz)
    shuffled = tmp_path / "shuffled.npz"
    np.savez(shuffled, images=data["images"], labels=np.random.default_rng(0).permutation(data["labels"]))
    assert run(str(shuffled), tiny_root)["mean"] < 30.0  # chance is 10%


def test_synthetic_validation_reads_no_private_data(synthetic_npz: Path, tiny_root: Path) -> None:
    result = run(str(synthetic_npz), tiny_root, selection="synthetic-val")
    assert result["n_validation"] == 25 and result["n_train"] == 275  # 8.3% of 300 held out
    assert "no private data" in result["selection"]["statement"]


def test_real_train_split_loses_its_validation_part(tiny_root: Path) -> None:
    result = run("real:mnist:train", tiny_root)
    # About 8.3% of the 240 records are held out (membership decided per record by a keyed hash).
    assert result["validation_excluded_from_train"] and result["n_train"] + result["n_validation"] == 240
    assert 5 <= result["n_validation"] <= 40 and result["mean"] > 75.0  # chance is 10%


@pytest.mark.parametrize("model, shape", [
    (DpdmCnn(in_channels=1, image_size=28), (2, 1, 28, 28)),
    (DpdmCnn(in_channels=3, image_size=32), (2, 3, 32, 32)),
    (CifarResNet(in_channels=3, depth=8, width=4), (2, 3, 32, 32)),
    (WideResNet(in_channels=1, depth=10, widen=1, dropout=0.3), (2, 1, 32, 32)),
    (ResNeXt(in_channels=3, depth=11, cardinality=2, widen_factor=2, base=4), (2, 3, 32, 32)),
])
def test_classifiers_map_images_to_logits(model: nn.Module, shape: tuple[int, ...]) -> None:
    assert model.eval()(torch.rand(shape) * 2 - 1).shape == (2, 10)


def test_bad_depths_are_errors() -> None:
    with pytest.raises(ValueError, match="6n\\+2"):
        CifarResNet(depth=10)
    with pytest.raises(ValueError, match="6n\\+4"):
        WideResNet(depth=12)
    with pytest.raises(ValueError, match="9n\\+2"):
        ResNeXt(depth=12)
