"""CIFAR-10 / CIFAR-100 "python version" batches, from the extracted folder or straight from the official .tar.gz.

The official files are Python pickles of dicts (``b'data'``: uint8 (N, 3072) rows holding the R, G and B planes
of a 32x32 image; ``b'labels'`` or ``b'fine_labels'``/``b'coarse_labels'``: lists of ints). They are read with
``encoding='bytes'`` by an unpickler that only resolves the few globals these files use (numpy's array
reconstruction), so a tampered or foreign pickle is refused instead of executed.
"""

from __future__ import annotations

import importlib
import io
import pickle
import tarfile
import zlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from dpldm.data.checks import DataError, checked, describe
from dpldm.data.images import LabelledImages

CIFAR10_FOLDER, CIFAR10_ARCHIVE = "cifar-10-batches-py", "cifar-10-python.tar.gz"
CIFAR100_FOLDER, CIFAR100_ARCHIVE = "cifar-100-python", "cifar-100-python.tar.gz"
CIFAR10_FILES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
CIFAR100_FILES = {"train": ("train",), "test": ("test",)}


def _numpy_core(name: str) -> Any:
    """numpy's ``multiarray`` module: ``numpy._core`` since numpy 2, ``numpy.core`` before."""
    for module in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"numpy has no multiarray.{name}")


class _BatchUnpickler(pickle.Unpickler):
    """Resolves only the globals of a pickled numpy array; anything else is refused."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}, which no official CIFAR file uses")
        if name == "_reconstruct":
            return _numpy_core("_reconstruct")
        return super().find_class(module, name)


def unpickle_batch(raw: bytes, where: str) -> dict[bytes, Any]:
    """One official CIFAR pickle (a batch or the meta file) as a dict with bytes keys."""
    try:
        batch = _BatchUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as err:  # UnpicklingError, EOFError, ValueError ... from a truncated or foreign file
        raise DataError(f"{where}: not a CIFAR python batch ({describe(err)})") from None
    if not isinstance(batch, dict):
        raise DataError(f"{where}: not a CIFAR python batch (holds a {type(batch).__name__}, not a dict)")
    return batch


def read_members(source: Path, names: Sequence[str]) -> dict[str, tuple[bytes, str]]:
    """Bytes of each file in ``names`` (by base name) from a folder or a .tar.gz, with where it came from."""
    found: dict[str, tuple[bytes, str]] = {}
    if source.is_dir():
        for name in names:
            path = source / name
            if not path.is_file():
                raise DataError(f"{source}: missing {name} (expected the official CIFAR python batches)")
            try:
                found[name] = (path.read_bytes(), str(path))
            except OSError as err:
                raise DataError(f"{path}: cannot read ({err.strerror or err})") from None
        return found
    try:
        with tarfile.open(source, "r:*") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base in names:
                    found[base] = (tar.extractfile(member).read(), f"{source}:{member.name}")
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        raise DataError(f"{source}: truncated or corrupt archive ({describe(err)}); delete it and download it "
                        f"again") from None
    missing = [n for n in names if n not in found]
    if missing:
        raise DataError(f"{source}: archive has no {', '.join(missing)} (not the official CIFAR archive?)")
    return found


def batch_arrays(batch: dict[bytes, Any], where: str, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 32, 32, 3), labels int64 (N,)) from one unpickled batch."""
    for key in (b"data", label_key):
        if key not in batch:
            keys = ", ".join(k.decode(errors="replace") if isinstance(k, bytes) else str(k) for k in batch)
            raise DataError(f"{where}: batch has no '{key.decode()}' entry (has: {keys})")
    data = batch[b"data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", type(data).__name__)
        raise DataError(f"{where}: 'data' must be uint8 rows of 3072 = 3x32x32 pixels, got {shape}")
    try:
        labels = np.asarray(batch[label_key], dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise DataError(f"{where}: '{label_key.decode()}' is not a list of integers") from None
    if labels.shape != (len(data),):
        raise DataError(f"{where}: {len(data)} images but {labels.size} labels")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _names(meta: dict[bytes, Any], key: bytes, where: str) -> tuple[str, ...]:
    if key not in meta:
        raise DataError(f"{where}: meta file has no '{key.decode()}' entry")
    names = meta[key]
    if not isinstance(names, (list, tuple)):
        raise DataError(f"{where}: meta file's '{key.decode()}' is not a list of names")
    return tuple(n.decode(errors="replace") if isinstance(n, bytes) else str(n) for n in names)


def _load(source: Path, split: str, name: str, files: dict[str, tuple[str, ...]], meta_file: str,
          label_key: bytes, names_key: bytes) -> LabelledImages:
    members = read_members(source, files[split] + (meta_file,))
    meta_raw, meta_where = members[meta_file]
    class_names = _names(unpickle_batch(meta_raw, meta_where), names_key, meta_where)
    images, labels = [], []
    for file in files[split]:
        raw, where = members[file]
        x, y = batch_arrays(unpickle_batch(raw, where), where, label_key)
        if len(y) and (y.min() < 0 or y.max() >= len(class_names)):
            raise DataError(f"{where}: labels outside 0..{len(class_names) - 1} (mislabelled or the wrong file?)")
        images.append(x)
        labels.append(y)
    return checked(source, name, np.concatenate(images), np.concatenate(labels), class_names)


def load_cifar10(source: Path, split: str) -> LabelledImages:
    """CIFAR-10 ``split`` ('train': 50,000, 'test': 10,000) from ``cifar-10-batches-py/`` or the .tar.gz."""
    return _load(source, split, "cifar10", CIFAR10_FILES, "batches.meta", b"labels", b"label_names")


def load_cifar100(source: Path, split: str, label: str = "fine") -> LabelledImages:
    """CIFAR-100 ``split`` from ``cifar-100-python/`` or the .tar.gz; label 'fine' (100) or 'coarse' (20)."""
    if label not in ("fine", "coarse"):
        raise DataError(f"cifar100 label must be 'fine' or 'coarse', got {label!r}")
    return _load(source, split, "cifar100", CIFAR100_FILES, "meta", f"{label}_labels".encode(),
                 f"{label}_label_names".encode())
