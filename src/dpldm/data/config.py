"""The typed data section of every stage's config, and loading what it names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from dpldm.data.images import LabelledImages
from dpldm.data.registry import load_dataset


@dataclass
class DataConfig:
    name: str = "mnist"  # a named dataset (`dpldm data list`)
    split: str = "train"  # which split of it
    image_size: int = 28  # images are brought to image_size x image_size
    channels: int = 1  # 1 grayscale, 3 RGB
    fit: Literal["resize", "crop", "pad"] = "resize"  # how non-square / other-size images are fitted
    limit: int | None = None  # use only this many examples (a seeded random subset); None: all
    seed: int = 0  # seeds the subset chosen by `limit`
    options: dict[str, Any] = field(default_factory=dict)  # dataset-specific reader options

    def validate(self) -> None:
        if self.channels not in (1, 3):
            raise ValueError("channels must be 1 or 3")
        if self.image_size < 4:
            raise ValueError("image_size must be at least 4")
        if self.limit is not None and self.limit < 1:
            raise ValueError("limit must be positive")


def load_images(cfg: DataConfig, *, root=None, download: bool = False) -> LabelledImages:
    """Read the dataset ``cfg`` names, keeping a seeded random subset of ``cfg.limit`` examples if set."""
    data = load_dataset(cfg.name, cfg.split, root=root, download=download, **cfg.options)
    if cfg.limit is not None and cfg.limit < len(data):
        index = np.sort(np.random.default_rng(cfg.seed).permutation(len(data))[: cfg.limit])
        data = data.subset(index)
    return data
