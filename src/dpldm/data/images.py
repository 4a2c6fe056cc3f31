"""The one in-memory form every reader returns: labelled uint8 images."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

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


def concatenate(parts: Sequence[LabelledImages], name: str | None = None) -> LabelledImages:
    """Stack sets of the same image shape into one, in order.

    Sets with the same class names keep them; otherwise the classes are listed one set after the other (named
    '<set>/<class>') and each set's labels are shifted past the previous sets' classes.
    """
    if not parts:
        raise ValueError("nothing to concatenate")
    shapes = {p.images.shape[1:] for p in parts}
    if len(shapes) != 1:
        raise ValueError(f"cannot concatenate images of different shapes {sorted(shapes)}; resize them first")
    if len({p.captions is None for p in parts}) != 1:
        raise ValueError("cannot concatenate captioned with uncaptioned images")
    if all(p.class_names == parts[0].class_names for p in parts):
        class_names, labels = parts[0].class_names, [p.labels for p in parts]
    else:
        class_names, labels, offset = (), [], 0
        for p in parts:
            class_names += tuple(f"{p.name}/{c}" for c in p.class_names)
            labels.append(p.labels + offset)
            offset += p.num_classes
    captions = None if parts[0].captions is None else tuple(c for p in parts for c in p.captions)
    return LabelledImages(np.concatenate([p.images for p in parts]), np.concatenate(labels), class_names,
                          name or "+".join(p.name for p in parts), captions)
