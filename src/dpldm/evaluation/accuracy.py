"""Downstream accuracy: classifiers trained on the synthetic set, tested on the real test set.

The reported epoch of each run is chosen by a ``SelectionPolicy`` from validation counts only (see ``selection``);
accuracies are summarised as mean and std (ddof=0, as DPImageBench) over classifiers and seeds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import numpy as np
import torch

from dpldm.data import LabelledImages, load_dataset, prepare
from dpldm.errors import DpldmError
from dpldm.evaluation.classifiers import CLASSIFIERS, ClassifierSpec
from dpldm.evaluation.selection import SelectionPolicy, noisy_argmax, private_validation_split, validation_size
from dpldm.evaluation.sources import load_image_set, parse_real, subsample_index
from dpldm.evaluation.training import LabelledTensors, train_and_score

SELECTIONS = ("private-val", "synthetic-val")


@dataclass(frozen=True)
class AccuracyConfig:
    classifiers: tuple[str, ...] = ("cnn",)  # names in CLASSIFIERS
    seeds: tuple[int, ...] = (0,)  # one run per classifier and seed (init, shuffling, dropout, selection noise)
    epochs: int | None = None  # None: each classifier's recipe
    selection: str = "private-val"  # or "synthetic-val"
    epsilon: float = 1.0  # budget of the private-val selection; inf: noise-free (not DP)
    batch_size: int | None = None  # None: each classifier's recipe
    device: str | None = None  # None: cuda if available, else cpu
    split_seed: int = 0  # seed of private_validation_split; the generator's fine-tuning must exclude the same split


@dataclass(frozen=True)
class Splits:
    """train: what classifiers learn from; validation: what the epoch is chosen on; test: what is reported."""

    train: LabelledImages
    validation: LabelledImages
    test: LabelledImages
    excluded_validation: bool  # the training set was a real train split and the validation records were removed


def make_splits(synthetic: str, dataset: str, config: AccuracyConfig, seed: int,
                data_root: str | None) -> Splits:
    """Load the three sets; for private-val, a real train split as the 'synthetic' set loses its validation part."""
    train = load_image_set(synthetic, data_root=data_root)
    test = load_dataset(dataset, "test", root=data_root)
    if train.labels.max() >= test.num_classes:
        raise DpldmError(f"{synthetic}: labels up to {train.labels.max()} but {dataset} has {test.num_classes} "
                         f"classes")
    excluded = False
    if config.selection == "private-val":
        private = load_dataset(dataset, "train", root=data_root)
        keep, held_out = private_validation_split(private.images, private.labels, config.split_seed)
        validation = private.subset(held_out)
        if parse_real(synthetic) == (dataset, "train"):
            train, excluded = train.subset(keep), True
    else:
        size = validation_size(len(train))
        held_out = subsample_index(len(train), size, seed)
        validation = train.subset(held_out)
        train = train.subset(np.setdiff1d(np.arange(len(train)), held_out))
    return Splits(train, validation, test, excluded)


def to_tensors(images: LabelledImages, *, size: int, channels: int) -> LabelledTensors:
    return LabelledTensors(prepare(images.images, size=size, channels=channels), torch.from_numpy(images.labels))


def run_one(spec: ClassifierSpec, splits: Splits, config: AccuracyConfig, policy: SelectionPolicy, seed: int,
            device: torch.device, log: Callable[[str], None] | None) -> dict[str, Any]:
    """Train one classifier with one seed; returns its record with the selected epoch's test accuracy."""
    start = time.perf_counter()
    size = spec.image_size or splits.test.images.shape[1]
    channels = 3 if splits.test.images.ndim == 4 else 1
    train, validation, test = (to_tensors(s, size=size, channels=channels)
                               for s in (splits.train, splits.validation, splits.test))
    recipe = replace(spec.recipe, epochs=config.epochs or spec.recipe.epochs,
                     batch_size=config.batch_size or spec.recipe.batch_size)

    # Train, scoring every epoch.
    torch.manual_seed(seed)
    model = spec.build(in_channels=channels, num_classes=splits.test.num_classes, image_size=size)
    generator = torch.Generator().manual_seed(seed)
    scores = train_and_score(model, recipe, train, validation, test, generator=generator, device=device, log=log)

    # Select the epoch from validation counts only.
    epsilon = config.epsilon if policy.kind == "private-val" else float("inf")
    epoch = noisy_argmax(scores.validation_correct, epsilon=epsilon, rng=np.random.default_rng(seed))
    test_accuracy = 100.0 * scores.test_correct / len(test)  # (E,)
    return {
        "classifier": spec.name,
        "seed": seed,
        "epochs": recipe.epochs,
        "selected_epoch": epoch + 1,
        "test_accuracy": float(test_accuracy[epoch]),
        "validation_accuracy": float(100.0 * scores.validation_correct[epoch] / len(validation)),
        "validation_correct": scores.validation_correct.tolist(),
        "test_accuracy_by_epoch": [round(float(a), 2) for a in test_accuracy],
        "train_loss": [round(float(v), 5) for v in scores.train_loss],
        "seconds": round(time.perf_counter() - start, 1),
    }


def evaluate_accuracy(synthetic: str, *, dataset: str, config: AccuracyConfig, data_root: str | None = None,
                      specs: Sequence[ClassifierSpec] | None = None,
                      log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train every classifier (``specs``, default: ``config.classifiers`` by name) with every seed; summarise."""
    if config.selection not in SELECTIONS:
        raise DpldmError(f"unknown selection {config.selection!r}; choose one of {', '.join(SELECTIONS)}")
    unknown = [name for name in config.classifiers if name not in CLASSIFIERS]
    if specs is None and unknown:
        raise DpldmError(f"unknown classifier(s) {', '.join(unknown)}; known: {', '.join(CLASSIFIERS)}")
    specs = list(specs) if specs is not None else [CLASSIFIERS[name] for name in config.classifiers]
    device = torch.device(config.device or ("cuda" if torch.cuda.is_available() else "cpu"))

    runs = []
    for seed in config.seeds:
        splits = make_splits(synthetic, dataset, config, seed, data_root)
        policy = SelectionPolicy(config.selection, config.epsilon, len(splits.validation))
        for spec in specs:
            if log is not None:
                log(f"{spec.name} seed {seed}: {len(splits.train)} training images on {device}")
            runs.append(run_one(spec, splits, config, policy, seed, device, log))

    accuracies = np.array([run["test_accuracy"] for run in runs])
    by_classifier = {spec.name: float(np.mean([r["test_accuracy"] for r in runs if r["classifier"] == spec.name]))
                     for spec in specs}
    return {
        "metric": "accuracy",
        "synthetic": synthetic,
        "dataset": dataset,
        "n_train": len(splits.train),
        "n_validation": len(splits.validation),
        "n_test": len(splits.test),
        "validation_excluded_from_train": splits.excluded_validation,
        "selection": policy.state_dict(),
        "runs": runs,
        "mean_by_classifier": by_classifier,
        "mean": float(accuracies.mean()),
        "std": float(accuracies.std()),
        "device": str(device),
    }
