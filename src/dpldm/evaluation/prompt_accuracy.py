"""Prompt accuracy of a text-conditional generator: does each image show the class its prompt names?

A judge (the evaluation CNN) is trained on the real private train split minus the private validation split that
fine-tuning held out, for its recipe's fixed number of epochs (no epoch is chosen, so no validation count is read),
and classifies every synthetic image; prompt accuracy is the share it assigns to the prompt's class. Like FID, this
is a NON-private diagnostic: the judge read private records without DP. Its own test accuracy (how far it can be
trusted) is returned under ``judge`` for the caller to keep with the run's private files.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from dpldm.data import LabelledImages, load_dataset, prepare
from dpldm.data.label_captions import HELDOUT_TEMPLATES, class_words
from dpldm.errors import DpldmError
from dpldm.evaluation.accuracy import AccuracyConfig, make_splits, to_tensors
from dpldm.evaluation.classifier_training import LabelledTensors, train_and_score
from dpldm.evaluation.classifiers import CLASSIFIERS
from dpldm.evaluation.sources import load_image_set
from dpldm.evaluation.split_binding import free_split_key

NOT_PRIVATE = ("NOT differentially private: the judge was trained on the private train split (minus the validation "
               "split) without DP; a diagnostic like FID, not part of the DP release")


def train_judge(dataset: str, *, split_key: int, data_root: str | None = None, epochs: int | None = None,
                seed: int = 0, image_size: int = 28) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The CNN trained on ``dataset``'s train split minus validation split ``split_key`` -> (model in eval mode,
    its record: test accuracy after its last epoch, sizes)."""
    spec = CLASSIFIERS["cnn"]
    splits = make_splits(f"real:{dataset}:train", dataset, AccuracyConfig(split_seed=split_key), seed, split_key,
                         data_root)
    channels = 3 if splits.test.images.ndim == 4 else 1
    size = max(image_size, spec.min_size)
    train, test = (to_tensors(s, size=size, channels=channels) for s in (splits.train, splits.test))
    nothing = LabelledTensors(train.x[:0], train.y[:0])  # no epoch is chosen, so nothing is counted on validation
    recipe = replace(spec.recipe, epochs=epochs or spec.recipe.epochs)
    torch.manual_seed(seed)
    model = spec.build(in_channels=channels, num_classes=splits.test.num_classes, image_size=size)
    scores = train_and_score(model, recipe, train, nothing, test, generator=torch.Generator().manual_seed(seed),
                             device=torch.device("cpu"))
    record = {"classifier": spec.name, "epochs": recipe.epochs, "n_train": len(train), "n_test": len(test),
              "test_accuracy": round(100.0 * float(scores.test_correct[-1]) / len(test), 2), "privacy": NOT_PRIVATE}
    return model.eval(), record


@torch.no_grad()
def judge_predictions(judge: torch.nn.Module, images: np.ndarray, *, image_size: int = 28,
                      batch_size: int = 512) -> np.ndarray:
    """The judge's class for each uint8 image (N, H, W) or (N, H, W, 3)."""
    channels = 3 if images.ndim == 4 else 1
    x = prepare(images, size=max(image_size, CLASSIFIERS["cnn"].min_size), channels=channels)
    return np.concatenate([judge(x[i:i + batch_size]).argmax(1).numpy() for i in range(0, len(x), batch_size)])


def prompt_accuracy(samples: LabelledImages, prompts: Sequence[str], prompt_classes: Sequence[int],
                    predicted: np.ndarray, *, templates: Sequence[str] = ()) -> dict[str, Any]:
    """Share (%) of images whose predicted class is their prompt's: overall, per class and per template.

    samples: labels are prompt indices (as `dpldm sample` writes them); prompt_classes[i]: the class prompt i names;
    templates: the evaluation templates, to break the score down by the template each prompt was made from (the
    first template whose fixed words all occur in the prompt)."""
    wanted = np.asarray(prompt_classes)[samples.labels]
    hit = predicted == wanted
    by_class = {int(c): round(100.0 * float(hit[wanted == c].mean()), 1) for c in np.unique(wanted)}
    by_template: dict[str, list[bool]] = {}
    for i, prompt in enumerate(prompts):
        template = next((t for t in templates if all(w in prompt for w in fixed_words(t))), None)
        if template is not None:
            by_template.setdefault(template, []).extend(hit[samples.labels == i].tolist())
    return {"prompt_accuracy": round(100.0 * float(hit.mean()), 2), "n_images": int(len(hit)),
            "by_class": by_class,
            "by_template": {t: round(100.0 * float(np.mean(h)), 1) for t, h in by_template.items()}}


def fixed_words(template: str) -> list[str]:
    """The words of a caption template that are not placeholders: 'a drawing of a {adj} {name}' -> drawing, of."""
    return [w for w in template.replace(",", " ").split() if "{" not in w and len(w) > 2]


def prompt_classes(prompts: Sequence[str], class_names: Sequence[str]) -> list[int]:
    """The class each prompt names, found by the words ``label_captions`` captions the classes with ("seven",
    "letter k", "ankle boot"); a prompt naming no class or several is an error."""
    words, _ = class_words(tuple(class_names))
    classes = []
    for prompt in prompts:
        found = [c for c, word in enumerate(words) if re.search(rf"\b{re.escape(word)}\b", prompt.lower())]
        if len(found) != 1:
            raise DpldmError(f"prompt {prompt!r} names {'no' if not found else 'more than one'} class of the "
                             f"dataset (its classes are called {', '.join(words[:6])}{', ...' if len(words) > 6 else ''})")
        classes.append(found[0])
    return classes


def evaluate_prompts(synthetic: str, *, dataset: str, model: dict[str, Any] | None, data_root: str | None = None,
                     epochs: int | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Prompt accuracy of a text model's samples (a `dpldm sample --prompts` .npz: label i is prompt i, the
    prompts stored as its class names) on the labelled ``dataset`` -> (result, the judge's record). ``model``: the
    generator's model.json facts, to keep its fine-tuning's validation split out of the judge as evaluation does.
    Both are NOT differentially private (see the module's docstring)."""
    with np.load(Path(synthetic)) as archive:
        if "class_names" not in archive.files:
            raise DpldmError(f"{synthetic}: no class_names (the prompts); sample it with `dpldm sample --prompts`")
        prompts = [str(p) for p in archive["class_names"]]
    samples = load_image_set(synthetic)
    if samples.labels.max() >= len(prompts):
        raise DpldmError(f"{synthetic}: labels up to {samples.labels.max()} but {len(prompts)} prompts")
    classes = prompt_classes(prompts, load_dataset(dataset, "test", root=data_root).class_names)
    key = free_split_key(synthetic=synthetic, dataset=dataset, model=model, requested=None)
    size = samples.images.shape[1]
    judge, record = train_judge(dataset, split_key=key, data_root=data_root, epochs=epochs, image_size=size)
    scores = prompt_accuracy(samples, prompts, classes, judge_predictions(judge, samples.images, image_size=size),
                             templates=HELDOUT_TEMPLATES)
    return {"metric": "prompt_accuracy", "synthetic": synthetic, "dataset": dataset, **scores,
            "prompts": prompts, "prompt_classes": classes, "privacy": NOT_PRIVATE}, record
