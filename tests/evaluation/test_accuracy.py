"""The accuracy pipeline with a tiny classifier on learnable and on shuffled labels; classifier shapes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from dpldm.errors import DpldmError
from dpldm.evaluation import selection
from dpldm.evaluation.accuracy import CEILING, AccuracyConfig, evaluate_accuracy
from dpldm.evaluation.classifiers import ClassifierSpec, DpdmCnn, TrainRecipe
from dpldm.evaluation.resnets import CifarResNet, ResNeXt, WideResNet


def tiny_linear(*, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size * image_size, num_classes))


TINY = ClassifierSpec("tiny", tiny_linear, None, TrainRecipe(epochs=4, batch_size=32, lr=2e-2))


def run(synthetic: str, root: Path, model: dict | None = None, **config) -> dict:
    return evaluate_accuracy(synthetic, dataset="mnist", config=AccuracyConfig(**config), model=model,
                             data_root=str(root), specs=[TINY])


def test_learnable_labels_give_high_accuracy(synthetic_npz: Path, tiny_root: Path, generator_facts: dict) -> None:
    result = run(str(synthetic_npz), tiny_root, generator_facts, seeds=(0, 1))
    assert result["test_accuracy"] > 90.0
    assert len(result["runs"]) == 2 and result["n_test"] == 200 and result["n_validation"] == 20
    assert result["selection"]["kind"] == "private-val" and "1-DP" in result["selection"]["statement"]
    assert result["privacy"] == result["selection"]["statement"]


def test_one_selection_over_every_classifier_seed_and_epoch(synthetic_npz: Path, tiny_root: Path,
                                                           generator_facts: dict) -> None:
    result = run(str(synthetic_npz), tiny_root, generator_facts, seeds=(0, 1, 2))
    chosen = result["selected"]
    assert result["selection"]["candidates"] == 3 * 4 and "one (classifier, seed, epoch) of 12" in result["privacy"]
    assert 1 <= chosen["epoch"] <= 4 and chosen["seed"] in (0, 1, 2)
    run_ = next(r for r in result["runs"] if r["seed"] == chosen["seed"])
    assert result["test_accuracy"] == run_["test_accuracy_by_epoch"][chosen["epoch"] - 1]
    assert set(run_) == {"classifier", "seed", "epochs", "test_accuracy_by_epoch", "train_loss", "seconds"}


def test_selection_noise_is_secret_unless_seeded(synthetic_npz: Path, tiny_root: Path, generator_facts: dict,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Two default evaluations with the same classifier seeds draw different noise; a selection_seed repeats it."""
    draws = []
    real = selection.laplace_noise

    def spy(count, *, epsilon, rng):
        draws.append(real(count, epsilon=epsilon, rng=rng))
        return draws[-1]

    monkeypatch.setattr(selection, "laplace_noise", spy)
    first, second = (run(str(synthetic_npz), tiny_root, generator_facts, epochs=2) for _ in range(2))
    assert len(draws) == 2 and draws[0].shape == (2,) and not np.array_equal(draws[0], draws[1])
    assert first["selection"]["noise"] == "secret OS entropy" and not first["selection"]["seeded"]
    assert "secret OS entropy" in second["privacy"]

    seeded = [run(str(synthetic_npz), tiny_root, generator_facts, epochs=2, selection_seed=7) for _ in range(2)]
    np.testing.assert_array_equal(draws[2], draws[3])
    assert seeded[0]["selection"]["seeded"] and "NOT differentially private" in seeded[0]["privacy"]
    assert "selection_seed=7" in seeded[0]["selection"]["noise"]


def test_shuffled_labels_give_chance(synthetic_npz: Path, tiny_root: Path, tmp_path: Path,
                                     generator_facts: dict) -> None:
    data = np.load(synthetic_npz)
    shuffled = tmp_path / "shuffled.npz"
    np.savez(shuffled, images=data["images"], labels=np.random.default_rng(0).permutation(data["labels"]))
    assert run(str(shuffled), tiny_root, generator_facts)["test_accuracy"] < 30.0  # chance is 10%


def test_synthetic_validation_reads_no_private_data(synthetic_npz: Path, tiny_root: Path) -> None:
    result = run(str(synthetic_npz), tiny_root, selection="synthetic-val")
    assert result["n_validation"] == 25 and result["n_train"] == 275  # 8.3% of 300 held out
    assert "no privacy cost beyond the training set's" in result["privacy"]
    assert result["selection"]["split_key"] is None


def test_private_val_needs_the_generator_model(synthetic_npz: Path, tiny_root: Path) -> None:
    with pytest.raises(DpldmError, match="needs the generator's model"):
        run(str(synthetic_npz), tiny_root)


def test_real_train_split_loses_its_validation_part_and_is_labelled_non_dp(tiny_root: Path) -> None:
    result = run("real:mnist:train", tiny_root)
    # About 8.3% of the 240 records are held out (membership decided per record by a keyed hash).
    assert result["validation_excluded_from_train"] and result["n_train"] + result["n_validation"] == 240
    assert 5 <= result["n_validation"] <= 40 and result["test_accuracy"] > 75.0  # chance is 10%
    assert result["privacy"] == CEILING and "NOT differentially private" in CEILING


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


def test_the_cnn_resizes_small_images_up_to_its_input_size(tmp_path: Path) -> None:
    # scikit-learn's digits are 8x8: the CNN (which needs 20x20) sees them, and 8x8 synthetic digits, at 28x28.
    rng = np.random.default_rng(0)
    synthetic = tmp_path / "small.npz"
    np.savez(synthetic, images=rng.integers(0, 256, (40, 8, 8), dtype=np.uint8), labels=np.arange(40) % 10)
    config = AccuracyConfig(selection="synthetic-val", epochs=1)
    result = evaluate_accuracy(str(synthetic), dataset="digits", config=config)
    assert 0.0 <= result["test_accuracy"] <= 100.0 and result["selected"]["classifier"] == "cnn"


def test_weight_ema_warms_up_then_follows_its_decay():
    """WeightEma against a plain loop: shadow_n = d_n * shadow_{n-1} + (1 - d_n) * w_n, d_n = min(d, (1+n)/(10+n))."""
    from dpldm.evaluation.classifier_training import WeightEma

    model = torch.nn.Linear(3, 2)
    ema = WeightEma(model, decay=0.9)
    expected = [p.detach().clone() for p in model.parameters()]
    for n in range(30):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        ema.update(model)
        d = min(0.9, (1 + n) / (10 + n))
        expected = [d * e + (1 - d) * p.detach() for e, p in zip(expected, model.parameters())]
    for got, want in zip(ema.shadow.parameters(), expected):
        torch.testing.assert_close(got, want)
    assert ema.updates == 30
