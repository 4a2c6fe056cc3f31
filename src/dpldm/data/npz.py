"""``.npz`` readers: the shared offline archives (see shared/data/README.md), user arrays, ImageNet32/64 batches.

Archives are opened with ``allow_pickle=False``; a truncated or corrupt archive, a missing key or an array of
the wrong shape is a DataError naming the file.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from dpldm.data.checks import DataError, checked, describe, index_names, user_path
from dpldm.data.images import LabelledImages
from dpldm.data.splits import sample_indices


def open_npz(path: Path) -> np.lib.npyio.NpzFile:
    """Open an archive lazily (arrays are read on access); unreadable = DataError naming it.

    The message says what is wrong and nothing more: the file may be someone's only copy of their private data,
    so it never advises deleting it.
    """
    try:
        archive = np.load(path, allow_pickle=False)
    except OSError as err:  # missing, unreadable (permissions), a folder ...
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None
    except Exception as err:  # zipfile.BadZipFile, ValueError (pickled data), EOFError ...
        raise DataError(f"{path}: not a readable .npz archive ({describe(err)}); truncated, or another "
                        f"format?") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):  # a bare .npy array under another name
        raise DataError(f"{path}: holds one .npy array, not an .npz archive of named arrays")
    return archive


def npz_array(archive: np.lib.npyio.NpzFile, key: str, path: Path) -> np.ndarray:
    """One array of an open archive; a missing key lists the keys there are."""
    if key not in archive.files:
        raise DataError(f"{path}: missing array '{key}' (has: {', '.join(archive.files)})")
    try:
        return archive[key]
    except Exception as err:  # zipfile.BadZipFile, zlib.error, ValueError (short read) ...
        raise DataError(f"{path}: array '{key}' is corrupt or truncated ({describe(err)})") from None


def decode_jpeg_bytes(blob: np.ndarray, offsets: np.ndarray, index: np.ndarray, path: Path) -> np.ndarray:
    """Decode images ``index`` of a JPEG-bytes archive (``jpeg_bytes`` + ``offsets``) to (n, H, W, 3) uint8."""
    out = []
    for i in index:
        try:
            img = Image.open(io.BytesIO(blob[offsets[i]:offsets[i + 1]].tobytes())).convert("RGB")
            out.append(np.asarray(img))
        except Exception as err:
            raise DataError(f"{path}: image {i} is not a decodable JPEG ({type(err).__name__})") from None
    return np.stack(out) if out else np.zeros((0, 32, 32, 3), np.uint8)


def read_split_npz(path: Path, split: str, name: str, class_names: Sequence[str]) -> LabelledImages:
    """``x_train``/``y_train``/``x_test``/``y_test`` layout (mnist.npz, fashion_mnist.npz)."""
    archive = open_npz(path)
    images = npz_array(archive, f"x_{split}", path)
    labels = npz_array(archive, f"y_{split}", path)
    return checked(path, name, images, labels, class_names)


def read_jpeg_npz(path: Path, split: str, name: str, test_key: str, class_names: Sequence[str] | None = None,
                  limit: int | None = None, limit_seed: int = 0) -> LabelledImages:
    """``jpeg_bytes``/``offsets``/``y`` + a 0/1 split flag (cifar10_jpeg.npz, tiny_imagenet32_jpeg.npz).

    split: 'train' (flag 0) or 'test' (flag 1). class_names: None = the archive's ``classes``.
    limit: decode only a seeded subset of the split.
    """
    archive = open_npz(path)
    flag = npz_array(archive, test_key, path).astype(bool)
    labels = npz_array(archive, "y", path).astype(np.int64)
    offsets = npz_array(archive, "offsets", path)
    blob = npz_array(archive, "jpeg_bytes", path)
    if len(offsets) != len(labels) + 1 or len(flag) != len(labels) or offsets[-1] > len(blob):
        raise DataError(f"{path}: offsets do not match {len(labels)} images and {len(blob)} bytes (truncated?)")
    index = np.flatnonzero(flag if split == "test" else ~flag)
    if limit is not None:
        index = index[sample_indices(len(index), limit, limit_seed)]
    if class_names is None:
        class_names = tuple(str(c) for c in npz_array(archive, "classes", path))
    return checked(path, name, decode_jpeg_bytes(blob, offsets, index, path), labels[index], class_names)


def read_omniglot(path: Path, split: str, label: str = "alphabet") -> LabelledImages:
    """omniglot.npz: split 'background' / 'evaluation' / 'all' (= 'train'); labels = 'alphabet' (50) or
    'character' (1,623)."""
    if label not in ("alphabet", "character"):
        raise DataError(f"omniglot label must be 'alphabet' or 'character', got {label!r}")
    archive = open_npz(path)
    images = npz_array(archive, "x", path)
    labels = npz_array(archive, "alphabet" if label == "alphabet" else "y", path).astype(np.int64)
    if label == "alphabet":
        names = tuple(str(a) for a in npz_array(archive, "alphabets", path))
    else:
        names = index_names(int(labels.max()) + 1 if len(labels) else 0)
    if split in ("background", "evaluation"):
        background = npz_array(archive, "is_background", path).astype(bool)
        keep = background if split == "background" else ~background
        images, labels = images[keep], labels[keep]
    return checked(path, "omniglot", images, labels, names)


def _images_layout(images: np.ndarray, path: Path) -> np.ndarray:
    """Accept (N,H,W), (N,H,W,1), (N,H,W,3) and channel-first (N,1|3,H,W) uint8; return (N,H,W) or (N,H,W,3)."""
    if images.dtype != np.uint8:
        hint = " (for floats in [0, 1] save (x * 255).round().astype(np.uint8))" if images.dtype.kind == "f" else ""
        raise DataError(f"{path}: images must be uint8 pixels 0..255, got {images.dtype}{hint}")
    if images.ndim not in (3, 4):
        raise DataError(f"{path}: images must be (N, H, W), (N, H, W, 1|3) or (N, 1|3, H, W), got shape "
                        f"{images.shape}")
    if images.ndim == 4 and images.shape[-1] not in (1, 3) and images.shape[1] in (1, 3):
        images = images.transpose(0, 2, 3, 1)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    return images


def load_user_npz(root: Path, split: str, path: str = "") -> LabelledImages:
    """The generic ``npz`` dataset (``root`` unused): ``path`` (absolute, or relative to the current folder)
    holding ``x_<split>`` + ``y_<split>``, or ``x`` + optional ``y`` (read for split 'all' or 'train'), and
    optionally ``classes`` (names)."""
    file = user_path("npz", path, "file.npz")
    if not file.is_file():
        raise DataError(f"{file}: no such .npz file")
    archive = open_npz(file)
    if f"x_{split}" in archive.files:
        x_key, y_key = f"x_{split}", f"y_{split}"
    elif "x" in archive.files and split in ("all", "train"):
        x_key, y_key = "x", "y"
    else:
        raise DataError(f"{file}: no 'x_{split}' array (or 'x' for split all/train); has: {', '.join(archive.files)}")
    images = _images_layout(npz_array(archive, x_key, file), file)
    if y_key in archive.files:
        labels = npz_array(archive, y_key, file)
    else:
        labels = np.zeros(len(images), dtype=np.int64)
    if "classes" in archive.files:
        classes = npz_array(archive, "classes", file)
        if classes.ndim != 1:
            raise DataError(f"{file}: 'classes' must be a 1-D array of names, got shape {classes.shape}")
        names = tuple(str(c) for c in classes)
    elif y_key in archive.files:
        names = index_names(count_classes(labels, file, y_key))
    else:
        names = ("image",)
    return checked(file, file.stem, images, labels, names)


def count_classes(labels: np.ndarray, path: Path, key: str) -> int:
    """K for labels that are exactly 0..K-1, each used at least once (names '0'..'K-1' are then safe to make).

    A stray label (15 among 0..9) would otherwise add six empty classes to everything trained on the set, and its
    released class names; such labels need a ``classes`` array naming every class.
    """
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{path}: '{key}' must be a 1-D integer array, got {labels.dtype} {labels.shape}")
    if not len(labels):
        return 0
    found = np.unique(labels)
    if found[0] < 0 or found[-1] != len(found) - 1:
        gap = next((int(c) for i, c in enumerate(found) if c != i), int(found[-1]))
        raise DataError(f"{path}: '{key}' holds {len(found)} distinct labels from {found[0]} to {found[-1]}, not "
                        f"0..{len(found) - 1} (label {gap} is out of sequence); fix the labels, or add a 'classes' "
                        f"array naming every class")
    return len(found)


def load_imagenet_batches(files: Sequence[Path], name: str, size: int, limit: int | None = None,
                          limit_seed: int = 0) -> LabelledImages:
    """Downsampled-ImageNet npz batches (``train_data_batch_1..10.npz``, ``val_data.npz``): ``data`` uint8
    (N, 3*size*size) as R, G, B planes and ``labels`` 1..1000; returns (N, size, size, 3) with labels 0..999.

    limit: pick a seeded subset of all batches' images before any pixels are read.
    """
    archives = [(path, open_npz(path)) for path in files]
    labels = [npz_array(a, "labels", path).astype(np.int64).reshape(-1) - 1 for path, a in archives]
    total = sum(len(y) for y in labels)
    keep = sample_indices(total, limit, limit_seed) if limit is not None else np.arange(total)
    starts = np.cumsum([0] + [len(y) for y in labels])
    images, kept_labels = [], []
    for (path, archive), y, start in zip(archives, labels, starts):
        local = keep[(keep >= start) & (keep < start + len(y))] - start
        if not len(local):
            continue
        data = npz_array(archive, "data", path)
        if data.dtype != np.uint8 or data.shape != (len(y), 3 * size * size):
            raise DataError(f"{path}: 'data' must be uint8 of shape ({len(y)}, {3 * size * size}) for "
                            f"{size}x{size} images, got {data.dtype} {data.shape} (wrong resolution?)")
        if y.min() < 0 or y.max() >= 1000:
            raise DataError(f"{path}: labels outside 1..1000 (mislabelled or not an ImageNet batch)")
        images.append(data[local].reshape(-1, 3, size, size).transpose(0, 2, 3, 1))
        kept_labels.append(y[local])
    return checked(files[0].parent, name, np.concatenate(images), np.concatenate(kept_labels), index_names(1000))
