"""Image + caption collections: a folder of images and a CSV or JSONL table of (file, text) pairs.

Accepted tables (the first found in the folder, or the file passed as ``path``):
    captions.csv      header row with columns ``file`` and ``text`` (``file_name`` / ``caption`` also accepted)
    captions.jsonl    one JSON object per line with the same keys
    metadata.jsonl    the same, as Hugging Face ``imagefolder`` datasets name it
File names are relative to the table's folder. Labels are all 0 with the single class name "image"; the texts
become ``LabelledImages.captions``, in table order.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from dpldm.data.checks import DataError, checked, describe, user_path
from dpldm.data.folder import decode_files
from dpldm.data.images import LabelledImages
from dpldm.data.splits import sample_indices

TABLES = ("captions.csv", "captions.jsonl", "metadata.jsonl")
FILE_KEYS, TEXT_KEYS = ("file", "file_name"), ("text", "caption")


def _pick(row: dict, keys: tuple[str, ...], where: str) -> str:
    for key in keys:
        if key in row and isinstance(row[key], str):
            return row[key]
    raise DataError(f"{where}: needs a '{keys[0]}' (or '{keys[1]}') text field, has: {', '.join(map(str, row))}")


def read_caption_table(path: Path) -> list[tuple[str, str]]:
    """(file, text) pairs from a captions CSV (with a header) or JSONL file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read as UTF-8 text ({describe(err)})") from None
    pairs = []
    if path.suffix.lower() == ".csv":
        try:
            rows = list(csv.DictReader(text.splitlines()))
        except csv.Error as err:
            raise DataError(f"{path}: not valid CSV ({describe(err)})") from None
        for i, row in enumerate(rows):
            where = f"{path} line {i + 2}"
            pairs.append((_pick(row, FILE_KEYS, where), _pick(row, TEXT_KEYS, where)))
    else:
        for i, line in enumerate(text.splitlines()):
            if not line.strip():
                continue
            where = f"{path} line {i + 1}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{where}: not valid JSON ({err.msg})") from None
            if not isinstance(row, dict):
                raise DataError(f"{where}: each line must be a JSON object with 'file' and 'text'")
            pairs.append((_pick(row, FILE_KEYS, where), _pick(row, TEXT_KEYS, where)))
    if not pairs:
        raise DataError(f"{path}: no (file, text) rows")
    return pairs


def find_table(path: Path) -> Path:
    """``path`` itself if it is a table file, else the first of TABLES inside the folder ``path``."""
    if path.is_file():
        return path
    for name in TABLES:
        if (path / name).is_file():
            return path / name
    raise DataError(f"{path}: no caption table (expected one of {', '.join(TABLES)} in that folder)")


def load_captioned(table: Path, *, mode: str = "auto", size: int | None = None, limit: int | None = None,
                   limit_seed: int = 0) -> LabelledImages:
    """Images listed in a caption table with their texts; ``limit`` rows are picked before decoding."""
    pairs = read_caption_table(table)
    if limit is not None:
        pairs = [pairs[i] for i in sample_indices(len(pairs), limit, limit_seed)]
    paths = [table.parent / file for file, _ in pairs]
    for path in paths:
        if not path.is_file():
            raise DataError(f"{table}: lists {path.name}, which is not in {table.parent}")
    images = decode_files(paths, mode=mode, size=size)
    return checked(table, table.parent.name, images, np.zeros(len(pairs), dtype=np.int64), ("image",),
                   captions=[text for _, text in pairs])


def load_user_captions(root: Path, split: str, path: str = "", mode: str = "auto", size: int | None = None,
                       limit: int | None = None, limit_seed: int = 0) -> LabelledImages:
    """The generic ``captions`` dataset (``root`` unused): ``path`` (absolute, or relative to the current
    folder) is a caption table or a folder holding one (split 'all'), or a folder of ``<split>/`` sub-folders."""
    base = user_path("captions", path, "folder with captions.csv or captions.jsonl")
    if split != "all":
        if not (base / split).is_dir():
            raise DataError(f"{base}: no '{split}' sub-folder; use split 'all' to read it as it is")
        base = base / split
    return load_captioned(find_table(base), mode=mode, size=size, limit=limit, limit_seed=limit_seed)
