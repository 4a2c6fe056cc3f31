"""Downstream accuracy: classifiers trained on the synthetic set, tested on the real test set.

Every classifier is trained with every seed; ONE selection over all (classifier, seed, epoch) candidates, from
validation counts only, picks what is reported (see ``selection``). What leaves ``evaluate_accuracy``: the selected
candidate, its test accuracy, every run's test accuracy by epoch (test-set numbers, public) and the privacy
statement. The validation counts stay in memory: for private-val they are noise-free counts of private records.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import numpy as np
import torch

from dpldm.data import LabelledImages, load_dataset, prepare
from dpldm.data.validation_split import private_validation_split, validation_size
from dpldm.errors import DpldmError
from dpldm.evaluation.classifier_training import LabelledTensors, train_and_score
from dpldm.evaluation.classifiers import CLASSIFIERS, ClassifierSpec
from dpldm.evaluation.selection import SelectionPolicy, select_candidate, selection_rng
from dpldm.evaluation.sources import load_image_set, parse_real, subsample_index
from dpldm.evaluation.split_binding import free_split_key

SELECTIONS = ("private-val", "synthetic-val")
CEILING = ("NOT differentially private: the classifiers were trained on the private train split itself; a non-DP "
           "ceiling, for reference only")


@dataclass(frozen=True)
class AccuracyConfig:
    classifiers: tuple[str, ...] = ("cnn",)  # names in CLASSIFIERS
    seeds: tuple[int, ...] = (0,)  # one run per classifier and seed (init, shuffling, dropout)
    epochs: int | None = None  # None: each classifier's recipe
    selection: str = "private-val"  # or "synthetic-val"
    epsilon: float = 1.0  # budget of the private-val selection; inf: noise-free (not DP)
    batch_size: int | None = None  # None: each classifier's recipe
    device: str | None = None  # None: cuda if available, else cpu
    split_seed: int | None = None  # key of private_validation_split; None: the one the generator's model.json
    # records as held out of its fine-tuning (0 for a real split as the training set)
    selection_seed: int | None = None  # None: selection noise from secret OS entropy; an int: reproducible and
    # NOT private against whoever knows it (tests only; the output says so)


@dataclass(frozen=True)
class Splits:
    """train: what classifiers learn from; validation: what the candidate is chosen on; test: what is reported."""

    train: LabelledImages
    validation: LabelledImages
    test: LabelledImages
    excluded_validation: bool  # the training set was a real train split and the validation records were removed


def make_splits(synthetic: str, dataset: str, config: AccuracyConfig, seed: int, split_key: int | None,
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
        keep, held_out = private_validation_split(private.images, private.labels, split_key)
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


def run_one(spec: ClassifierSpec, splits: Splits, config: AccuracyConfig, seed: int, device: torch.device,
            log: Callable[[str], None] | None) -> tuple[dict[str, Any], np.ndarray]:
    """Train one classifier with one seed -> (its public record, its (E,) validation counts: in memory only)."""
    start = time.perf_counter()
    # The classifier sees the largest of the two sets' sizes and its own minimum: a generator's 28x28 digits are
    # not shrunk to a test set's native 8x8 (the test images are resized up instead), and the CNN gets its 28x28.
    size = spec.image_size or max(splits.train.images.shape[1], splits.test.images.shape[1], spec.min_size)
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
    record = {
        "classifier": spec.name,
        "seed": seed,
        "epochs": recipe.epochs,
        "test_accuracy_by_epoch": [round(float(a), 2) for a in 100.0 * scores.test_correct / len(test)],
        "train_loss": [round(float(v), 5) for v in scores.train_loss],
        "seconds": round(time.perf_counter() - start, 1),
    }
    return record, scores.validation_correct


def evaluate_accuracy(synthetic: str, *, dataset: str, config: AccuracyConfig, model: dict[str, Any] | None = None,
                      data_root: str | None = None, specs: Sequence[ClassifierSpec] | None = None,
                      log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train every classifier (``specs``, default: ``config.classifiers`` by name) with every seed; report the one
    candidate the selection picks. ``model``: the generator's model.json facts, which private-val selection
    needs to find the validation split its fine-tuning held out (``split_binding``)."""
    if config.selection not in SELECTIONS:
        raise DpldmError(f"unknown selection {config.selection!r}; choose one of {', '.join(SELECTIONS)}")
    unknown = [name for name in config.classifiers if name not in CLASSIFIERS]
    if specs is None and unknown:
        raise DpldmError(f"unknown classifier(s) {', '.join(unknown)}; known: {', '.join(CLASSIFIERS)}")
    specs = list(specs) if specs is not None else [CLASSIFIERS[name] for name in config.classifiers]
    device = torch.device(config.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    split_key = (free_split_key(synthetic=synthetic, dataset=dataset, model=model, requested=config.split_seed)
                 if config.selection == "private-val" else None)

    # Train every (classifier, seed); the validation counts stay here.
    runs, correct = [], []
    for seed in config.seeds:
        splits = make_splits(synthetic, dataset, config, seed, split_key, data_root)
        for spec in specs:
            if log is not None:
                log(f"{spec.name} seed {seed}: {len(splits.train)} training images on {device}")
            record, validation_correct = run_one(spec, splits, config, seed, device, log)
            runs.append(record)
            correct.append(validation_correct)

    # One selection over all (classifier, seed, epoch) candidates.
    policy = SelectionPolicy(config.selection, config.epsilon, len(splits.validation),
                             candidates=sum(len(c) for c in correct), split_key=split_key,
                             selection_seed=config.selection_seed)
    epsilon = config.epsilon if config.selection == "private-val" else float("inf")
    run, epoch = select_candidate(correct, epsilon=epsilon, rng=selection_rng(config.selection_seed))
    selected = runs[run]
    trained_on_private = parse_real(synthetic) == (dataset, "train")
    return {
        "metric": "accuracy",
        "synthetic": synthetic,
        "dataset": dataset,
        "n_train": len(splits.train),
        "n_validation": len(splits.validation),
        "n_test": len(splits.test),
        "validation_excluded_from_train": splits.excluded_validation,
        "test_accuracy": selected["test_accuracy_by_epoch"][epoch],
        "selected": {"classifier": selected["classifier"], "seed": selected["seed"], "epoch": epoch + 1},
        "selection": policy.state_dict(),
        "privacy": CEILING if trained_on_private else policy.statement,
        "runs": runs,
        "device": str(device),
    }
