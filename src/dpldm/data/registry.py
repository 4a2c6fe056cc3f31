"""Named datasets: where their files live under the data root and how to read them."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from dpldm.data.images import LabelledImages
from dpldm.errors import DpldmError


class DataError(DpldmError):
    """A dataset that is missing, unreadable or inconsistent; the message names the file."""


def data_root(root: str | os.PathLike | None = None) -> Path:
    """--data-root, else $DPLDM_DATA, else ./data."""
    return Path(root or os.environ.get("DPLDM_DATA") or "data")


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    files: tuple[str, ...]  # what must be present under the data root (any one of each alternative)
    loader: Callable[..., LabelledImages]  # loader(root, split, **options)
    splits: tuple[str, ...] = ("train", "test")
    needs_root: bool = True


REGISTRY: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec) -> DatasetSpec:
    REGISTRY[spec.name] = spec
    return spec


def open_npz(path: Path) -> np.lib.npyio.NpzFile:
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except Exception as err:  # zipfile.BadZipFile, ValueError, EOFError, OSError ...
        raise DataError(f"{path}: not a readable .npz file ({type(err).__name__}: {err})") from None


def npz_array(archive: np.lib.npyio.NpzFile, key: str, path: Path) -> np.ndarray:
    if key not in archive.files:
        raise DataError(f"{path}: missing array '{key}' (has: {', '.join(archive.files)})")
    try:
        return archive[key]
    except Exception as err:
        raise DataError(f"{path}: array '{key}' is corrupt or truncated ({type(err).__name__})") from None


def decode_jpeg_bytes(blob: np.ndarray, offsets: np.ndarray, index: np.ndarray, path: Path) -> np.ndarray:
    """Decode images ``index`` of a JPEG-bytes archive (``jpeg_bytes`` + ``offsets``) to (n, H, W, 3) uint8."""
    from PIL import Image

    out = []
    for i in index:
        try:
            img = Image.open(io.BytesIO(blob[offsets[i]:offsets[i + 1]].tobytes())).convert("RGB")
            out.append(np.asarray(img))
        except Exception as err:
            raise DataError(f"{path}: image {i} is not a decodable JPEG ({type(err).__name__})") from None
    return np.stack(out) if out else np.zeros((0, 32, 32, 3), np.uint8)


def missing_error(spec: DatasetSpec, root: Path) -> DataError:
    return DataError(f"dataset '{spec.name}' not found: expected {' and '.join(spec.files)} in {root.resolve()} "
                     f"(set --data-root or DPLDM_DATA{', or pass --download' if spec.name in DOWNLOADABLE else ''})")


DOWNLOADABLE: set[str] = set()


def load_dataset(name: str, split: str = "train", *, root: str | os.PathLike | None = None,
                 download: bool = False, **options) -> LabelledImages:
    """Read a named dataset's split as uint8 images + labels."""
    if name not in REGISTRY:
        raise DataError(f"unknown dataset '{name}'; known: {', '.join(sorted(REGISTRY))}")
    spec = REGISTRY[name]
    if split not in spec.splits:
        raise DataError(f"dataset '{name}' has no split '{split}'; splits: {', '.join(spec.splits)}")
    folder = data_root(root)
    if download and name in DOWNLOADABLE:
        from dpldm.data.download import ensure_downloaded

        ensure_downloaded(name, folder)
    try:
        return spec.loader(folder, split, **options)
    except FileNotFoundError:
        raise missing_error(spec, folder) from None
