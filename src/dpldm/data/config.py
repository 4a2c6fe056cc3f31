"""``DataConfig``: the typed ``data:`` section of every training stage's config, and ``load_images`` for it.

Example (YAML):
    data:
      name: fashion_mnist
      split: train
      image_size: 32
      channels: 1
      fit: pad
      limit: 10000
      seed: 0
      options: {}
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from dpldm.data.images import LabelledImages
from dpldm.data.registry import REGISTRY, load_dataset
from dpldm.data.transforms import prepare
from dpldm.errors import DpldmError

if TYPE_CHECKING:
    import torch


@dataclass
class DataConfig:
    """Which images a stage reads and the shape the model sees them in."""

    name: str = "mnist"  # a registered dataset (see `dpldm data list`)
    split: str = "train"  # one of that dataset's splits
    image_size: int = 28  # side of the square images given to the model, in pixels
    channels: int = 1  # 1 = grayscale, 3 = RGB (converted if the dataset differs)
    fit: Literal["resize", "crop", "pad"] = "resize"  # how other shapes reach image_size: squash, centre-crop, pad
    limit: int | None = None  # use at most this many images (a seeded random subset); null = all
    seed: int = 0  # seed of that subset
    options: dict[str, Any] = field(default_factory=dict)  # dataset-specific options, e.g. {attribute: Smiling}
    # Text models: "labels" gives each image a caption made from its label with varied templates
    # (dpldm.data.label_captions, seeded by `seed`); "dataset" keeps the dataset's own captions, if any.
    captions: Literal["dataset", "labels"] = "dataset"
    # Keep only the images of these classes (by name; labels and class list unchanged, so a model of all the
    # classes can continue on the subset; applied after `limit`); null = all. `dpldm select-public` chooses such a
    # list with DP.
    classes: list[str] | None = None

    def validate(self) -> None:
        """Raise ValueError on impossible values (from_dict turns it into a one-line ConfigError)."""
        if self.name not in REGISTRY:
            raise ValueError(f"unknown dataset '{self.name}'; known: {', '.join(sorted(REGISTRY))}")
        splits = REGISTRY[self.name].splits
        if self.split not in splits:
            raise ValueError(f"dataset '{self.name}' has no split '{self.split}'; splits: {', '.join(splits)}")
        if self.image_size < 4:
            raise ValueError(f"image_size must be at least 4 pixels, got {self.image_size}")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be a positive number of images or null, got {self.limit}")
        if self.classes is not None and not self.classes:
            raise ValueError("classes must name at least one class, or be null for all")


def load_images(cfg: DataConfig, *, root: str | os.PathLike | None = None, download: bool = False) -> LabelledImages:
    """The uint8 images and labels ``cfg`` names, limited to ``cfg.limit`` (seeded by ``cfg.seed``)."""
    data = load_dataset(cfg.name, cfg.split, root=root, download=download, limit=cfg.limit, limit_seed=cfg.seed,
                        **cfg.options)
    if cfg.classes is not None:
        data = only_classes(data, cfg.classes)
    if cfg.captions == "labels":
        from dpldm.data.label_captions import caption_labels

        data = caption_labels(data, seed=cfg.seed)
    return data


def only_classes(data: LabelledImages, classes: list[str]) -> LabelledImages:
    """The images of ``data`` whose class is named in ``classes`` (exact names), labels and class list unchanged."""
    unknown = [c for c in classes if c not in data.class_names]
    if unknown:
        raise DpldmError(f"{data.name} has no class {', '.join(repr(c) for c in unknown[:5])} (data.classes); its "
                         f"classes: {', '.join(data.class_names[:10])}{', ...' if data.num_classes > 10 else ''}")
    wanted = np.isin(data.labels, [data.class_names.index(c) for c in classes])
    return data.subset(np.flatnonzero(wanted))


def to_model_input(cfg: DataConfig, data: LabelledImages) -> torch.Tensor:
    """``data``'s images as float32 (N, channels, image_size, image_size) in [-1, 1], fitted as ``cfg`` says."""
    return prepare(data.images, size=cfg.image_size, channels=cfg.channels, fit=cfg.fit)
