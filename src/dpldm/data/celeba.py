"""CelebA (aligned and cropped faces) with one of its 40 binary attributes as the label.

Layout under the dataset folder (as in the official release):
    img_align_celeba/000001.jpg ...      178x218 RGB JPEGs
    list_attr_celeba.txt                 line 1: image count; line 2: the 40 attribute names;
                                         then one line per image: file name and 40 values of -1 or 1
    list_eval_partition.txt (optional)   file name and 0 (train), 1 (valid) or 2 (test) per line
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dpldm.data.checks import DataError, checked, describe
from dpldm.data.folder import decode_files
from dpldm.data.images import LabelledImages
from dpldm.data.splits import sample_indices

SPLITS = {"train": 0, "valid": 1, "test": 2}


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="strict").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read as text ({describe(err)})") from None


def read_attributes(path: Path) -> tuple[list[str], tuple[str, ...], np.ndarray]:
    """(file names, attribute names, values int8 (N, n_attributes) of -1/1) from ``list_attr_celeba.txt``."""
    lines = [line for line in _lines(path) if line.strip()]
    if len(lines) < 2 or not lines[0].strip().isdigit():
        raise DataError(f"{path}: not a CelebA attribute file (line 1 must be the image count, line 2 the names)")
    count, names = int(lines[0]), tuple(lines[1].split())
    rows = lines[2:]
    if len(rows) != count:
        raise DataError(f"{path}: line 1 says {count} images but {len(rows)} lines follow (truncated?)")
    files, values = [], np.empty((count, len(names)), dtype=np.int8)
    for i, row in enumerate(rows):
        parts = row.split()
        if len(parts) != len(names) + 1 or any(v not in ("1", "-1") for v in parts[1:]):
            raise DataError(f"{path}: line {i + 3} must be a file name and {len(names)} values of 1 or -1")
        files.append(parts[0])
        values[i] = np.asarray(parts[1:], dtype=np.int8)
    return files, names, values


def read_partition(path: Path, files: list[str]) -> np.ndarray:
    """Partition (0 train, 1 valid, 2 test) per file of ``files``, from ``list_eval_partition.txt``."""
    table: dict[str, int] = {}
    for i, line in enumerate(_lines(path)):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise DataError(f"{path}: line {i + 1} must be a file name and 0, 1 or 2")
        table[parts[0]] = int(parts[1])
    missing = [f for f in files if f not in table]
    if missing:
        raise DataError(f"{path}: no partition for {len(missing)} images (first: {missing[0]})")
    return np.asarray([table[f] for f in files], dtype=np.int64)


def load_celeba(folder: Path, split: str, attribute: str = "Male", size: int | None = 64,
                limit: int | None = None, limit_seed: int = 0) -> LabelledImages:
    """CelebA ``split`` ('train', 'valid', 'test' or 'all') labelled by ``attribute`` (0 = no, 1 = yes).

    size: central square crop resized to size x size (default 64); None keeps the 178x218 originals.
    limit: a seeded subset picked before any image is decoded (the full set is 202,599 JPEGs).
    Returns images uint8 (N, size, size, 3).
    """
    attr_path = folder / "list_attr_celeba.txt"
    files, names, values = read_attributes(attr_path)
    if attribute not in names:
        raise DataError(f"{attr_path}: no attribute '{attribute}'; attributes: {', '.join(names)}")
    labels = (values[:, names.index(attribute)] == 1).astype(np.int64)
    index = np.arange(len(files))
    if split != "all":
        partition_path = folder / "list_eval_partition.txt"
        if not partition_path.is_file():
            raise DataError(f"{partition_path}: missing; it defines the '{split}' split (or use split 'all')")
        index = np.flatnonzero(read_partition(partition_path, files) == SPLITS[split])
    if limit is not None:
        index = index[sample_indices(len(index), limit, limit_seed)]
    image_dir = folder / "img_align_celeba"
    paths = [image_dir / files[i] for i in index]
    for path in paths:
        if not path.is_file():
            raise DataError(f"{path}: listed in {attr_path.name} but missing")
    images = decode_files(paths, mode="RGB", size=size)
    return checked(attr_path, "celeba", images, labels[index], (f"not {attribute}", attribute))
