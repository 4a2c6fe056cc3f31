"""Image sets to evaluate: a synthetic ``.npz`` written by ``dpldm sample``, or a real split named ``real:NAME:SPLIT``.

A real split as the "synthetic" set gives the tool's floors and ceilings: FID(train, test), and the accuracy of a
classifier trained on real data (``real:fashion_mnist:train``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dpldm.data import LabelledImages, load_dataset
from dpldm.data.registry import open_npz
from dpldm.errors import DpldmError

REAL_PREFIX = "real:"
IMAGE_KEYS = ("images", "x")
LABEL_KEYS = ("labels", "y")


def parse_real(spec: str) -> tuple[str, str] | None:
    """'real:NAME:SPLIT' -> (NAME, SPLIT); None for a path."""
    if not spec.startswith(REAL_PREFIX):
        return None
    parts = spec[len(REAL_PREFIX):].split(":")
    if len(parts) != 2 or not all(parts):
        raise DpldmError(f"a real image set is written real:NAME:SPLIT (e.g. real:fashion_mnist:train), got {spec!r}")
    return parts[0], parts[1]


def _first_key(archive, keys: tuple[str, ...]) -> str | None:
    return next((key for key in keys if key in archive.files), None)


def load_npz_images(path: Path, *, need_labels: bool) -> LabelledImages:
    """images uint8 (N, H, W) | (N, H, W, 3) and labels int64 (N,) under images/labels or x/y."""
    if not path.is_file():
        raise DpldmError(f"synthetic set {path} not found (expected a .npz written by `dpldm sample`)")
    archive = open_npz(path)
    image_key, label_key = _first_key(archive, IMAGE_KEYS), _first_key(archive, LABEL_KEYS)
    if image_key is None:
        raise DpldmError(f"{path}: no 'images' (or 'x') array; has {', '.join(archive.files)}")
    images = archive[image_key]
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3):
        raise DpldmError(f"{path}: images must be uint8 (N,H,W) or (N,H,W,3), got {images.dtype} {images.shape}")
    if label_key is None:
        if need_labels:
            raise DpldmError(f"{path}: no 'labels' (or 'y') array; accuracy needs labelled images")
        labels = np.zeros(len(images), np.int64)
    else:
        labels = archive[label_key].astype(np.int64)
    if labels.shape != (len(images),) or (len(labels) and labels.min() < 0):
        raise DpldmError(f"{path}: labels must be (N,) = ({len(images)},) non-negative integers, got {labels.shape}")
    classes = tuple(str(i) for i in range(int(labels.max()) + 1 if len(labels) else 1))
    return LabelledImages(images, labels, classes, path.stem)


def load_image_set(spec: str, *, data_root: str | None = None, need_labels: bool = True) -> LabelledImages:
    """A synthetic .npz path or real:NAME:SPLIT -> the labelled images; DpldmError when unreadable or empty."""
    real = parse_real(spec)
    images = load_dataset(real[0], real[1], root=data_root) if real else \
        load_npz_images(Path(spec), need_labels=need_labels)
    if len(images) == 0:
        raise DpldmError(f"{spec}: no images")
    return images


def subsample_index(total: int, n: int | None, seed: int) -> np.ndarray:
    """Sorted indices of a seeded uniform subset of n of ``total`` items (all of them when n is None or >= total)."""
    if n is None or n >= total:
        return np.arange(total)
    return np.sort(np.random.default_rng(seed).choice(total, size=n, replace=False))
