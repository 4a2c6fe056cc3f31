"""Writers of small on-disk datasets (into tmp_path) for the reader tests."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array: 0, 0, type 0x08, ndim, big-endian dims, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray, *, gz: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = idx_bytes(array)
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def random_images(n: int, h: int = 28, w: int = 28, seed: int = 0, channels: int | None = None) -> np.ndarray:
    shape = (n, h, w) if channels is None else (n, h, w, channels)
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def write_mnist_like(folder: Path, *, n_train: int = 12, n_test: int = 6, classes: int = 10, gz: bool = True,
                     prefix: str = "", seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The four IDX files of an MNIST-like set; returns {split: (images, labels)} as written."""
    rng = np.random.default_rng(seed)
    written = {}
    for split, stem, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = random_images(n, seed=seed + n)
        labels = rng.integers(0, classes, n).astype(np.uint8)
        suffix = ".gz" if gz else ""
        write_idx(folder / f"{prefix}{stem}-images-idx3-ubyte{suffix}", images, gz=gz)
        write_idx(folder / f"{prefix}{stem}-labels-idx1-ubyte{suffix}", labels, gz=gz)
        written[split] = (images, labels.astype(np.int64))
    return written


def one_line(message: str) -> bool:
    return "\n" not in message and len(message) < 600
