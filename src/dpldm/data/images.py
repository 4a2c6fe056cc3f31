"""The one in-memory form every reader returns: labelled uint8 images."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class LabelledImages:
    """A labelled image set as read from disk, before any transform.

    images: uint8, (N, H, W) for grayscale or (N, H, W, 3) for RGB.
    labels: int64, (N,), class indices into ``class_names``.
    captions: optional text per image, for text-conditional data.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    name: str
    captions: tuple[str, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim not in (3, 4):
            raise ValueError(f"{self.name}: images must be uint8 (N,H,W) or (N,H,W,3), got "
                             f"{self.images.dtype} {self.images.shape}")
        if self.labels.shape != (len(self.images),):
            raise ValueError(f"{self.name}: {len(self.images)} images but labels of shape {self.labels.shape}")
        if len(self.labels) and (self.labels.min() < 0 or self.labels.max() >= len(self.class_names)):
            raise ValueError(f"{self.name}: labels outside 0..{len(self.class_names) - 1}")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def subset(self, index: np.ndarray) -> "LabelledImages":
        captions = None if self.captions is None else tuple(self.captions[i] for i in index)
        return LabelledImages(self.images[index], self.labels[index], self.class_names, self.name, captions)

