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

from dpldm.data.checks import DataError, checked, describe, user_path
from dpldm.data.images import LabelledImages
from dpldm.data.splits import sample_indices

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")
MODES = ("auto", "L", "RGB")


def image_files(folder: Path) -> list[Path]:
    """The image files directly inside ``folder``, sorted by name."""
    return sorted(p for p in entries(folder) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def entries(folder: Path) -> list[Path]:
    """``folder.iterdir()``, with an unreadable folder a DataError naming it."""
    try:
        return list(folder.iterdir())
    except OSError as err:
        raise DataError(f"{folder}: cannot list the folder ({err.strerror or err})") from None


def open_image(source: Path | bytes, where: str) -> Image.Image:
    """Open one image lazily (header only); an unreadable one is a DataError naming it."""
    try:
        return Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    except PermissionError as err:
        raise DataError(f"{where}: cannot read ({err.strerror})") from None
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise DataError(f"{where}: not a readable image ({describe(err)})") from None
    except Exception as err:  # Pillow's format plugins raise SyntaxError, struct.error, DecompressionBombError ...
        raise DataError(f"{where}: not a readable image ({describe(err)})") from None


def is_gray(mode: str) -> bool:
    return mode in GRAY_MODES or mode.startswith("I;16")


def convert(img: Image.Image, mode: str, where: str) -> Image.Image:
    """``img`` decoded in ``mode`` ('L' or 'RGB'); corrupt data is a DataError naming ``where``.

    Pillow's own ``convert`` clips wide greyscale pixels to 255, so a 16-bit PNG would come out all but white: 16-bit
    pixels are scaled to 8 bits instead, and 32-bit integer or float pixels are kept only when they are 0..255.
    """
    try:
        if img.mode.startswith("I;16") or img.mode in ("I", "F"):
            pixels = np.asarray(img)
            if img.mode.startswith("I;16"):
                pixels = np.round(pixels.astype(np.float64) / 257.0)
            elif not (np.isfinite(pixels).all() and pixels.min() >= 0 and pixels.max() <= 255):
                raise DataError(f"{where}: {img.mode} pixels outside 0..255 (wide or float pixels); save the image "
                                f"with 8-bit channels")
            img = Image.fromarray(pixels.astype(np.uint8), "L")
        return img.convert(mode)
    except DataError:
        raise
    except Exception as err:  # OSError for truncated data (found only when the pixels are decoded), and others
        raise DataError(f"{where}: truncated or corrupt image ({describe(err)})") from None


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
        mode = "L" if all(is_gray(open_image(f, str(f)).mode) for f in files) else "RGB"
    out = np.empty(0, dtype=np.uint8)
    for i, path in enumerate(files):
        img = convert(open_image(path, str(path)), mode, str(path))
        if min(img.size) < 1:
            raise DataError(f"{path}: an image of {img.size[0]}x{img.size[1]} pixels")
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
    classes = sorted(d for d in entries(root) if d.is_dir() and not d.name.startswith("."))
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
