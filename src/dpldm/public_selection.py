"""Choose the public classes closest to the private data, with DP, to pretrain on (PrivImage, Li et al. 2024).

1. A classifier is trained on the PUBLIC images alone, in the shape the models see them (``public`` data config).
2. It gives every PRIVATE training image one public class (the evaluation protocol's validation split is held out,
   as fine-tuning holds it out, so that split stays disjoint from everything the generator depends on).
3. The histogram of those classes is released with Gaussian noise (``dpldm.dp.histogram``: one record moves one
   count by 1, L2 sensitivity 1, mechanism (sigma, 1, 1)), and the ``classes`` bins with the largest noisy counts are
   the selection: post-processing, no further cost.
4. ``dpldm pretrain`` with ``selection: OUT/selection.json`` continues a public model on those classes only. The
   model it exports carries the mechanism in its facts (``private_selections``), and fine-tuning from it composes
   that mechanism with its DP-SGD inside one accountant (``prior_mechanisms``): the epsilon in the fine-tune's
   privacy.json covers both. The private set's ledger gets the Gaussian event when the histogram is released.

What the run writes is releasable: selection.json (the noisy counts, the chosen classes, the guarantee),
privacy.json, histogram.png, selected.png (public images of the chosen classes) and the public classifier. The exact
counts and the private images' predicted classes never leave the process.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from dpldm.config import to_dict
from dpldm.data.config import DataConfig, load_images, to_model_input
from dpldm.data.validation_split import private_validation_split
from dpldm.errors import DpldmError
from dpldm.privacy.accountant import Accountant, Mechanism, calibrate_noise, epsilon, library_versions
from dpldm.privacy.budget import BudgetConfig, PrivacyEvent, record_release
from dpldm.privacy.facts import PrivacyFacts

SELECTION_FILE = "selection.json"
MECHANISM = "Gaussian noise on the histogram of one public class per private record (L2 sensitivity 1)"
FACTS_KEY = "private_selections"  # in a model's facts: the selections its public data went through


@dataclass
class PublicClassifierConfig:
    """The classifier that maps images to public classes; trained on public images only."""

    epochs: int = 3
    batch_size: int = 256
    lr: float = 1e-3  # Adam
    validation: int = 2000  # public images held out to report its accuracy (a public number)
    seed: int = 0  # its initialisation, batches and held-out images (all public)
    threads: int = 0  # CPU threads; 0 keeps torch's default


@dataclass
class SelectionConfig:
    public: DataConfig = field(default_factory=lambda: DataConfig(name="tiny_imagenet32", split="train"))
    private: DataConfig = field(default_factory=lambda: DataConfig(name="fashion_mnist", split="train"))  # PRIVATE
    holdout_validation: bool = True  # leave the evaluation protocol's private validation split out, as fine-tuning
    classes: int = 20  # how many public classes to select
    epsilon: float | None = 0.1  # target epsilon of the release at ``delta``; None: give noise_multiplier
    noise_multiplier: float | None = None  # sigma of the histogram noise; None: the smallest meeting epsilon
    delta: float = 1e-5
    accountant: Accountant = "pld"  # states this release's own epsilon; a fine-tune composes it in its own
    seed: int | None = None  # None: the noise from secret OS entropy; an integer: reproducible, NOT private (tests)
    classifier: PublicClassifierConfig = field(default_factory=PublicClassifierConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)  # the cap on epsilon spent on this private set
    out_dir: str = "runs/select"

    def validate(self) -> None:
        if self.classes < 1:
            raise DpldmError(f"classes must be at least 1, got {self.classes}")
        if self.epsilon is None and self.noise_multiplier is None:
            raise DpldmError("set epsilon (a target) or noise_multiplier")
        if self.epsilon is not None and not (self.epsilon > 0 and math.isfinite(self.epsilon)):
            raise DpldmError(f"epsilon must be a positive number, got {self.epsilon}")
        if self.noise_multiplier is not None and not (self.noise_multiplier > 0 and
                                                      math.isfinite(self.noise_multiplier)):
            raise DpldmError(f"noise_multiplier must be a positive number, got {self.noise_multiplier}")
        if (self.public.image_size, self.public.channels) != (self.private.image_size, self.private.channels):
            raise DpldmError(f"the public and private images must be seen in one shape: public.image_size/channels "
                             f"{self.public.image_size}/{self.public.channels}, private "
                             f"{self.private.image_size}/{self.private.channels}")
        if self.public.classes is not None:
            raise DpldmError("public.classes must be null: the selection chooses among all the public classes")


def noise_for(cfg: SelectionConfig) -> tuple[float, float]:
    """(sigma, epsilon spent at cfg.delta) of the histogram release."""
    sigma = cfg.noise_multiplier
    if sigma is None:
        sigma = calibrate_noise(target_epsilon=cfg.epsilon, sample_rate=1.0, steps=1, delta=cfg.delta,
                                accountant=cfg.accountant)
    spent = epsilon(noise_multiplier=sigma, sample_rate=1.0, steps=1, delta=cfg.delta, accountant=cfg.accountant)
    if cfg.epsilon is not None and spent > cfg.epsilon:
        raise DpldmError(f"noise_multiplier {sigma} spends epsilon {spent:.4g}, more than the target {cfg.epsilon}")
    return sigma, spent


CLASSIFIER_MIN_SIZE = 28  # the CNN's three conv/pool stages need 20x20; smaller images are resized up to this


def classifier_input(data: DataConfig, images) -> torch.Tensor:
    """``images`` as the public classifier sees them: the data config's shape, resized up to at least 28x28."""
    return to_model_input(replace(data, image_size=max(data.image_size, CLASSIFIER_MIN_SIZE)), images)


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor, *, batch_size: int = 512) -> np.ndarray:
    """(N,) argmax classes of ``model`` on ``x`` ((N, C, S, S) in [-1, 1])."""
    model.eval()
    return torch.cat([model(x[i:i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)]).numpy()


def train_public_classifier(cfg: SelectionConfig, public, *, say: Callable[[str], None]):
    """A CNN over all the public classes, trained on public images only; (model, accuracy % on held-out public)."""
    from dpldm.evaluation.classifier_training import LabelledTensors, train_and_score
    from dpldm.evaluation.classifiers import DpdmCnn, TrainRecipe

    c = cfg.classifier
    x = classifier_input(cfg.public, public)  # (N, C, S, S)
    y = torch.from_numpy(public.labels.astype(np.int64))
    generator = torch.Generator().manual_seed(c.seed)
    order = torch.randperm(len(y), generator=generator)
    held = order[:min(c.validation, len(y) // 5)]
    kept = order[len(held):]
    train, validation = LabelledTensors(x[kept], y[kept]), LabelledTensors(x[held], y[held])
    torch.manual_seed(c.seed)
    model = DpdmCnn(in_channels=cfg.public.channels, num_classes=public.num_classes, image_size=x.shape[-1],
                    dropout=0.1)
    scores = train_and_score(model, TrainRecipe(epochs=c.epochs, batch_size=c.batch_size, lr=c.lr), train, validation,
                             validation, generator=generator, device=torch.device("cpu"), log=say)
    return model, round(100.0 * scores.validation_correct[-1] / max(len(validation), 1), 2)


def select_public(cfg: SelectionConfig, *, data_root: str | None = None, download: bool = False,
                  say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the selection into ``cfg.out_dir``; returns what selection.json holds."""
    from dpldm.data.dataset_key import dataset_key
    from dpldm.dp.histogram import noisy_histogram
    from dpldm.dp.plan import check_delta_for_dataset
    from dpldm.dp.config import DPConfig
    from dpldm.dp.randomness import SecretRandom, SeededRandom
    from dpldm.runlayout import private_dir

    cfg.validate()
    out = Path(cfg.out_dir)
    if (out / SELECTION_FILE).is_file():
        raise DpldmError(f"{out} holds a finished selection; another release would spend epsilon again: use "
                         f"another --out, or use {out / SELECTION_FILE} as it is")
    if cfg.classifier.threads:
        torch.set_num_threads(cfg.classifier.threads)
    sigma, spent = noise_for(cfg)
    public = load_images(cfg.public, root=data_root, download=download)
    private = load_images(cfg.private, root=data_root, download=download)
    if cfg.classes > public.num_classes:
        raise DpldmError(f"classes={cfg.classes} but {cfg.public.name} has {public.num_classes} classes")
    index = np.arange(len(private))
    if cfg.holdout_validation:
        index, _ = private_validation_split(private.images, private.labels, seed=cfg.private.seed)
    check_delta_for_dataset(DPConfig(delta=cfg.delta, epochs=1), len(index))

    # 1. The public classifier (public data only).
    say(f"training the public classifier on {len(public)} {cfg.public.name} images, {public.num_classes} classes")
    model, public_accuracy = train_public_classifier(cfg, public, say=say)
    out.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save_file
    save_file(model.state_dict(), str(out / "public_classifier.safetensors"))

    # 2-3. One public class per private record; the histogram released with Gaussian noise, charged first.
    predicted = predict(model, classifier_input(cfg.private, private.subset(index)))  # (N,): PRIVATE
    event = PrivacyEvent.gaussian(noise_multiplier=sigma, delta=cfg.delta, accountant=cfg.accountant, epsilon=spent,
                                  run=out, mechanism=MECHANISM)
    total = record_release(cfg.budget, key=dataset_key(private), event=event)
    random = SecretRandom() if cfg.seed is None else SeededRandom(cfg.seed)
    noisy = noisy_histogram(predicted, public.num_classes, noise_multiplier=sigma, random=random)
    del predicted
    chosen = [int(c) for c in np.argsort(-noisy, kind="stable")[:cfg.classes]]

    facts = PrivacyFacts(accountant=cfg.accountant, noise_multiplier=sigma, sample_rate=1.0, steps=1,
                         delta=cfg.delta, epsilon=spent, target_epsilon=cfg.epsilon,
                         sampling="none: one Gaussian mechanism on the whole private training set",
                         libraries=tuple(library_versions(cfg.accountant).items()), secret_randomness=random.secret,
                         note=None if random.secret else
                         f"seed={cfg.seed}: the noise is reproducible, NOT private against anyone who knows the seed")
    result = {
        "classes": [public.class_names[c] for c in chosen], "class_indices": chosen,
        "noisy_counts": [round(float(v), 1) for v in noisy],  # aligned with public_class_names; DP, releasable
        "public_class_names": list(public.class_names),
        "public_data": to_dict(cfg.public), "private_data": to_dict(cfg.private),
        "holdout_validation": cfg.holdout_validation, "mechanism": MECHANISM,
        "privacy": facts.to_dict(), "public_classifier": {"accuracy_public_heldout": public_accuracy,
                                                          **to_dict(cfg.classifier)},
        "statement": f"the {cfg.classes} public classes with the largest noisy counts; the histogram is "
                     f"({spent:.4g}, {cfg.delta:g})-DP ({cfg.accountant}, sigma {sigma:.4g}, add/remove one record)",
    }
    (out / "privacy.json").write_text(facts.to_json())
    (out / SELECTION_FILE).write_text(json.dumps(result, indent=2))
    if total is not None:
        (private_dir(out) / "ledger_total.json").write_text(json.dumps(total.to_dict(), indent=2))
    plot_selection(out, result, public)
    say(f"selected {cfg.classes} of {public.num_classes} public classes at epsilon {spent:.4g} (delta "
        f"{cfg.delta:g}, sigma {sigma:.4g}): {', '.join(c.split(',')[0] for c in result['classes'])}")
    say(f"pretrain on them: dpldm pretrain ... --set selection={out / SELECTION_FILE}; figures {out}/histogram.png, "
        f"{out}/selected.png")
    return result


def plot_selection(out: Path, result: dict[str, Any], public) -> None:
    """histogram.png: the noisy counts, chosen classes highlighted; selected.png: public images of the chosen
    classes, largest noisy count first."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dpldm.data.grid import class_grid

    counts = np.array(result["noisy_counts"])
    order = np.argsort(-counts, kind="stable")[:max(40, len(result["classes"]))]
    chosen = set(result["class_indices"])
    fig, ax = plt.subplots(figsize=(12, 4))
    ax.bar(range(len(order)), counts[order], color=["tab:orange" if c in chosen else "tab:grey" for c in order])
    ax.set_xticks(range(len(order)), [public.class_names[c].split(",")[0][:18] for c in order], rotation=70,
                  fontsize=7)
    ax.set_ylabel("noisy count (DP)")
    ax.set_title(f"{result['private_data']['name']} as public classes: noisy histogram, chosen in orange "
                 f"(epsilon {result['privacy']['epsilon']:.3g})")
    fig.tight_layout()
    fig.savefig(out / "histogram.png", dpi=100)
    plt.close(fig)
    # One row per chosen class, largest noisy count first, the count under the row.
    rank = {c: r for r, c in enumerate(result["class_indices"])}
    keep = np.flatnonzero(np.isin(public.labels, result["class_indices"]))
    names = [f"{public.class_names[c]} (noisy count {counts[c]:.0f})" for c in result["class_indices"]]
    class_grid(public.images[keep], np.array([rank[int(y)] for y in public.labels[keep]]), names,
               per_row=10).save(out / "selected.png")


def read_selection(path: str | Path) -> dict[str, Any]:
    """A selection.json, checked to hold what pretraining needs."""
    path = Path(path)
    if path.is_dir():
        path = path / SELECTION_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DpldmError(f"cannot read the selection {path}: {err}") from None
    if not isinstance(data.get("classes"), list) or not isinstance(data.get("privacy"), dict):
        raise DpldmError(f"{path} is not a selection.json written by `dpldm select-public`")
    return data


def selection_fact(selection: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """What a model pretrained on a selection records of it (releasable: all of it is in selection.json)."""
    p = selection["privacy"]
    return {"file": str(path), "classes": selection["classes"], "private_data": selection["private_data"],
            "mechanism": selection["mechanism"], "noise_multiplier": p["noise_multiplier"],
            "sample_rate": p["sample_rate"], "steps": p["steps"], "epsilon": p["epsilon"], "delta": p["delta"],
            "accountant": p["accountant"], "secret_randomness": p.get("secret_randomness")}


def prior_mechanisms(facts: dict[str, Any]) -> tuple[Mechanism, ...]:
    """The DP mechanisms on private data that a model's public training data went through, as (sigma, q, steps)."""
    return tuple((float(s["noise_multiplier"]), float(s["sample_rate"]), int(s["steps"]))
                 for s in facts.get(FACTS_KEY, []))


def selected_data(data: DataConfig, selection: dict[str, Any]) -> DataConfig:
    """``data`` limited to the selection's classes; refuses public data other than the one the selection chose
    among (its class names would not mean the same)."""
    chosen_from = selection["public_data"]
    if (data.name, data.split) != (chosen_from["name"], chosen_from["split"]):
        raise DpldmError(f"the selection chose among {chosen_from['name']}:{chosen_from['split']}, not "
                         f"{data.name}:{data.split}")
    if data.classes is not None:
        raise DpldmError("set data.classes or selection, not both")
    return replace(data, classes=list(selection["classes"]))
