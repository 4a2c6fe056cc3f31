"""The data layer's error type and the checks every reader runs before handing images on.

Readers never let a raw ``struct.error`` / ``EOFError`` / ``KeyError`` escape: anything wrong with a file becomes
one ``DataError`` line that names the file and says what was expected, which the CLI prints without a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from dpldm.data.images import LabelledImages
from dpldm.errors import DpldmError


class DataError(DpldmError):
    """A dataset that is missing, unreadable or inconsistent; the message names the file."""


def checked(path: Path | str, name: str, images: np.ndarray, labels: np.ndarray, class_names: Sequence[str],
            captions: Sequence[str] | None = None) -> LabelledImages:
    """Validate arrays read from ``path`` and wrap them; any inconsistency is a DataError naming ``path``.

    images: uint8 (N, H, W) or (N, H, W, 3); labels: integer (N,) in 0..len(class_names)-1.
    """
    if images.dtype != np.uint8:
        raise DataError(f"{path}: images must be uint8 pixels 0..255, got {images.dtype}")
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3):
        raise DataError(f"{path}: images must be (N, H, W) or (N, H, W, 3), got shape {images.shape}")
    if not len(images):
        raise DataError(f"{path}: holds no images")
    if min(images.shape[1:3]) < 1:
        raise DataError(f"{path}: images of {images.shape[2]}x{images.shape[1]} pixels")
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{path}: labels must be a 1-D integer array, got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise DataError(f"{path}: {len(images)} images but {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(class_names)):
        raise DataError(f"{path}: labels outside 0..{len(class_names) - 1} "
                        f"(found {labels.min()}..{labels.max()}; mislabelled or the wrong file?)")
    if captions is not None and len(captions) != len(images):
        raise DataError(f"{path}: {len(images)} images but {len(captions)} captions")
    return LabelledImages(np.ascontiguousarray(images), labels.astype(np.int64), tuple(class_names), name,
                          None if captions is None else tuple(captions))


def describe(err: BaseException, limit: int = 120) -> str:
    """``Type: message`` of a library's exception, as one short line (messages can quote raw file bytes)."""
    text = " ".join(f"{type(err).__name__}: {err}".split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def index_names(count: int) -> tuple[str, ...]:
    """Class names '0', '1', ... for datasets that ship no names."""
    return tuple(str(i) for i in range(count))


def user_path(dataset: str, path: str, what: str) -> Path:
    """The ``path=`` option of a user-data dataset (absolute, or relative to the current folder)."""
    if not path:
        raise DataError(f"dataset '{dataset}' needs the option path=<{what}>")
    return Path(path).expanduser()
