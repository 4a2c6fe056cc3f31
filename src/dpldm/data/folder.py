"""Folders of image files (PNG / JPEG / BMP) decoded with Pillow: one sub-folder per class, or a flat list.

``load_image_folder(root)`` reads ``root/<class>/<image>``, classes in sorted order, as ImageNet-style folders are
laid out. ``decode_files`` is shared with the CelebA and caption readers: it makes every image the same mode and,
with ``size``, the same square size, so the result stacks into one uint8 array.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from dpldm.data.checks import DataError, checked, user_path
from dpldm.data.images import LabelledImages
from dpldm.data.splits import sample_indices

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")
MODES = ("auto", "L", "RGB")


def image_files(folder: Path) -> list[Path]:
    """The image files directly inside ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def open_image(source: Path | bytes, where: str) -> Image.Image:
    """Open one image lazily (header only); an unreadable one is a DataError naming it."""
    try:
        return Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise DataError(f"{where}: not a readable image ({type(err).__name__}: {err})") from None


def decode_files(files: Sequence[Path], *, mode: str = "auto", size: int | None = None) -> np.ndarray:
    """Decode image files to one uint8 array: (N, H, W) for mode 'L', (N, H, W, 3) for 'RGB'.

    mode: 'auto' = 'L' when every image is grayscale, else 'RGB'.
    size: crop each image to its central square and resize it to ``size`` x ``size`` (Pillow BICUBIC, or BOX
        when shrinking); None = keep sizes, which must then all be equal.
    """
    if mode not in MODES:
        raise DataError(f"image mode must be one of {', '.join(MODES)}, got {mode!r}")
    if size is not None and size < 1:
        raise DataError(f"image size must be a positive number of pixels, got {size}")
    if not files:
        raise DataError("no image files to decode")
    if mode == "auto":
        mode = "L" if all(open_image(f, str(f)).mode in GRAY_MODES for f in files) else "RGB"
    out = np.empty(0, dtype=np.uint8)
    for i, path in enumerate(files):
        try:
            img = open_image(path, str(path)).convert(mode)
        except (OSError, ValueError) as err:  # truncated data is found only when the pixels are decoded
            raise DataError(f"{path}: truncated or corrupt image ({err})") from None
        if size is not None:
            shrink = min(img.size) > size
            img = ImageOps.fit(img, (size, size), method=Image.Resampling.BOX if shrink else Image.Resampling.BICUBIC)
        arr = np.asarray(img, dtype=np.uint8)
        if i == 0:
            out = np.empty((len(files), *arr.shape), dtype=np.uint8)
        elif arr.shape != out.shape[1:]:
            raise DataError(f"{path}: size {arr.shape[1]}x{arr.shape[0]} differs from the first image's "
                            f"{out.shape[2]}x{out.shape[1]}; pass the option size=N to resize them all")
        out[i] = arr
    return out


def list_class_folders(root: Path) -> tuple[list[Path], np.ndarray, tuple[str, ...]]:
    """(files, labels (N,) int64, class names) of ``root/<class>/<image>``, classes sorted by folder name."""
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (expected one sub-folder of images per class)")
    classes = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    files: list[Path] = []
    labels: list[int] = []
    names: list[str] = []
    for folder in classes:
        found = image_files(folder)
        if found:
            labels.extend([len(names)] * len(found))
            names.append(folder.name)
            files.extend(found)
    if not files:
        raise DataError(f"{root}: no images found (expected {root}/<class>/<image>.png or .jpg)")
    return files, np.asarray(labels, dtype=np.int64), tuple(names)


def load_image_folder(root: Path, name: str, *, mode: str = "auto", size: int | None = None,
                      limit: int | None = None, limit_seed: int = 0) -> LabelledImages:
    """Read ``root/<class>/<image>`` into labelled images; ``limit`` images are picked before decoding."""
    files, labels, class_names = list_class_folders(root)
    if limit is not None:
        keep = sample_indices(len(files), limit, limit_seed)
        files, labels = [files[i] for i in keep], labels[keep]
    return checked(root, name, decode_files(files, mode=mode, size=size), labels, class_names)


def split_folder(path: Path, split: str) -> Path:
    """``path/<split>`` when it exists; ``path`` itself for split 'all'; otherwise a DataError saying so."""
    if (path / split).is_dir():
        return path / split
    if split == "all":
        return path
    raise DataError(f"{path}: no '{split}' sub-folder; use split 'all' to read the folder as it is")


def load_user_folder(root: Path, split: str, path: str = "", mode: str = "auto", size: int | None = None,
                     limit: int | None = None, limit_seed: int = 0) -> LabelledImages:
    """The generic ``folder`` dataset (``root`` unused): ``path`` (absolute, or relative to the current folder)
    holding ``<class>/<image>`` files, or ``<split>/<class>/<image>``."""
    folder = split_folder(user_path("folder", path, "folder of class sub-folders"), split)
    return load_image_folder(folder, folder.name, mode=mode, size=size, limit=limit, limit_seed=limit_seed)
