"""Readers for the ``.npz`` layouts of the offline datasets (see shared/data/README.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dpldm.data.images import LabelledImages
from dpldm.data.registry import DataError, DatasetSpec, decode_jpeg_bytes, npz_array, open_npz, register

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def read_split_npz(path: Path, split: str, name: str, class_names: tuple[str, ...]) -> LabelledImages:
    """``x_train``/``y_train``/``x_test``/``y_test`` layout (mnist.npz, fashion_mnist.npz)."""
    archive = open_npz(path)
    images = npz_array(archive, f"x_{split}", path)
    labels = npz_array(archive, f"y_{split}", path).astype(np.int64)
    return checked(path, name, images, labels, class_names)


def checked(path: Path, name: str, images: np.ndarray, labels: np.ndarray,
            class_names: tuple[str, ...]) -> LabelledImages:
    if images.dtype != np.uint8:
        raise DataError(f"{path}: images must be uint8, got {images.dtype}")
    if len(images) != len(labels):
        raise DataError(f"{path}: {len(images)} images but {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(class_names)):
        raise DataError(f"{path}: labels outside 0..{len(class_names) - 1}")
    return LabelledImages(images, labels, class_names, name)


def read_jpeg_npz(path: Path, split: str, name: str, test_key: str) -> LabelledImages:
    """``jpeg_bytes``/``offsets``/``y`` + a 0/1 split flag (cifar10_jpeg.npz, tiny_imagenet32_jpeg.npz)."""
    archive = open_npz(path)
    flag = npz_array(archive, test_key, path).astype(bool)
    labels = npz_array(archive, "y", path).astype(np.int64)
    offsets = npz_array(archive, "offsets", path)
    blob = npz_array(archive, "jpeg_bytes", path)
    if len(offsets) != len(labels) + 1 or offsets[-1] > len(blob):
        raise DataError(f"{path}: offsets do not match {len(labels)} images and {len(blob)} bytes (truncated?)")
    index = np.flatnonzero(flag if split == "test" else ~flag)
    classes = tuple(str(c) for c in npz_array(archive, "classes", path)) if "classes" in archive.files else ()
    classes = classes or tuple(str(i) for i in range(int(labels.max()) + 1))
    return checked(path, name, decode_jpeg_bytes(blob, offsets, index, path), labels[index], classes)


def _mnist(root: Path, split: str) -> LabelledImages:
    return read_split_npz(root / "mnist.npz", split, "mnist", tuple(str(i) for i in range(10)))


def _fashion(root: Path, split: str) -> LabelledImages:
    return read_split_npz(root / "fashion_mnist.npz", split, "fashion_mnist", FASHION_CLASSES)


def _cifar10(root: Path, split: str) -> LabelledImages:
    data = read_jpeg_npz(root / "cifar10_jpeg.npz", split, "cifar10", "is_test")
    return LabelledImages(data.images, data.labels, CIFAR10_CLASSES, "cifar10")


def _tiny_imagenet32(root: Path, split: str) -> LabelledImages:
    return read_jpeg_npz(root / "tiny_imagenet32_jpeg.npz", "test" if split == "val" else split,
                         "tiny_imagenet32", "is_val")


def _omniglot(root: Path, split: str, label: str = "alphabet") -> LabelledImages:
    """All 32,460 characters; ``split`` 'background' / 'evaluation' / 'all'; labels = alphabet or character."""
    path = root / "omniglot.npz"
    archive = open_npz(path)
    images = npz_array(archive, "x", path)
    if label not in ("alphabet", "character"):
        raise DataError(f"omniglot label must be 'alphabet' or 'character', got {label!r}")
    labels = npz_array(archive, "alphabet" if label == "alphabet" else "y", path).astype(np.int64)
    if label == "alphabet":
        names = tuple(str(a) for a in npz_array(archive, "alphabets", path))
    else:
        names = tuple(str(i) for i in range(int(labels.max()) + 1))
    if split in ("background", "evaluation"):
        background = npz_array(archive, "is_background", path).astype(bool)
        keep = background if split == "background" else ~background
        images, labels = images[keep], labels[keep]
    return checked(path, "omniglot", images, labels, names)


def _digits(root: Path, split: str) -> LabelledImages:
    """scikit-learn's embedded 8x8 digits (1,797 images, 0..16 intensities) scaled to uint8; one split 'all'."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.clip(np.rint(bunch.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    return LabelledImages(images, bunch.target.astype(np.int64), tuple(str(i) for i in range(10)), "digits")


register(DatasetSpec("mnist", "MNIST handwritten digits, 28x28 (npz)", ("mnist.npz",), _mnist))
register(DatasetSpec("fashion_mnist", "Fashion-MNIST, 28x28 (npz)", ("fashion_mnist.npz",), _fashion))
register(DatasetSpec("cifar10", "CIFAR-10, 32x32 RGB (JPEG-bytes npz)", ("cifar10_jpeg.npz",), _cifar10))
register(DatasetSpec("tiny_imagenet32", "Tiny ImageNet at 32x32, 200 classes (public stand-in for ImageNet32)",
                     ("tiny_imagenet32_jpeg.npz",), _tiny_imagenet32, splits=("train", "val", "test")))
register(DatasetSpec("omniglot", "Omniglot handwritten characters, 50 alphabets, 28x28 (public stand-in for "
                     "EMNIST)", ("omniglot.npz",), _omniglot, splits=("all", "background", "evaluation", "train")))
register(DatasetSpec("digits", "scikit-learn's embedded 8x8 digits (1,797 images)", (), _digits,
                     splits=("all", "train"), needs_root=False))
