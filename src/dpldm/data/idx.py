"""IDX files (``*-idx3-ubyte`` images, ``*-idx1-ubyte`` labels, gzipped or not): MNIST, Fashion-MNIST, KMNIST, EMNIST.

Format (big-endian): two zero bytes, a type code (0x08 = unsigned byte, the only one these datasets use), the number
of dimensions, one uint32 per dimension, then the data in C order. Every header field and the byte count are
checked, so a truncated download, a swapped images/labels pair or a file of another dataset fails with one line
naming the file.
"""

from __future__ import annotations

import gzip
import math
import zipfile
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np

from dpldm.data.checks import DataError, checked, describe
from dpldm.data.images import LabelledImages

UNSIGNED_BYTE = 0x08
GZIP_MAGIC = b"\x1f\x8b"


def gunzip(raw: bytes, where: str) -> bytes:
    """Decompress gzip bytes read from ``where``; truncation or corruption is a DataError naming it."""
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:  # EOFError: truncated; BadGzipFile (OSError): bad header/CRC
        raise DataError(f"{where}: truncated or corrupt gzip file ({describe(err)}); delete it and download it "
                        f"again") from None


def parse_idx(raw: bytes, where: str, ndim: int) -> np.ndarray:
    """Decode the bytes of an IDX file (already gunzipped) to a uint8 array with ``ndim`` dimensions.

    ndim: 3 for images (N, rows, cols), 1 for labels (N,).
    """
    kind = {3: "images (idx3)", 1: "labels (idx1)"}.get(ndim, f"{ndim}-D IDX data")
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{where}: not an IDX file (it should start with two zero bytes; "
                        f"got {raw[:4].hex() or 'an empty file'})")
    if raw[2] != UNSIGNED_BYTE:
        raise DataError(f"{where}: IDX type code 0x{raw[2]:02x} is not supported (expected 0x08, unsigned bytes)")
    if raw[3] != ndim:
        raise DataError(f"{where}: holds {raw[3]}-D IDX data but {kind} were expected "
                        f"(images and labels files swapped?)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{where}: IDX header cut short ({len(raw)} bytes; truncated)")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected_bytes = math.prod(dims)  # Python ints: four uint32 dimensions can overflow int64
    if len(raw) - header != expected_bytes:
        raise DataError(f"{where}: header says {kind} of shape {dims} = {expected_bytes} bytes, but the file "
                        f"holds {len(raw) - header} (truncated or corrupt)")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an IDX file from disk, gunzipping it when it starts with the gzip magic bytes."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror})") from None
    if raw[:2] == GZIP_MAGIC:
        raw = gunzip(raw, str(path))
    return parse_idx(raw, str(path), ndim)


def read_idx_in_zip(archive: Path, member: str, ndim: int) -> np.ndarray:
    """Read an (optionally gzipped) IDX file stored inside a zip archive, e.g. EMNIST's ``gzip.zip``."""
    where = f"{archive}:{member}"
    try:
        with zipfile.ZipFile(archive) as zf:
            raw = zf.read(member)
    except KeyError:
        raise DataError(f"{archive}: has no member {member}") from None
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as err:
        raise DataError(f"{archive}: truncated or corrupt zip file ({describe(err)})") from None
    if raw[:2] == GZIP_MAGIC:
        raw = gunzip(raw, where)
    return parse_idx(raw, where, ndim)


def find_idx(folder: Path, stem: str) -> Path:
    """``folder/stem`` or ``folder/stem.gz`` (searching sub-folders too), raising a DataError naming both."""
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    found = sorted(folder.glob(f"**/{stem}")) + sorted(folder.glob(f"**/{stem}.gz"))
    if found:
        return found[0]
    raise DataError(f"{folder}: missing {stem} (or {stem}.gz)")


def pair(images: np.ndarray, labels: np.ndarray, images_where: str, labels_where: str, name: str,
         class_names: Sequence[str], *, transpose: bool = False, label_offset: int = 0) -> LabelledImages:
    """Combine an images array (N, H, W) and a labels array (N,) read from two IDX files.

    transpose: swap rows and columns (EMNIST stores its images transposed).
    label_offset: subtracted from every label (EMNIST letters are numbered 1..26).
    """
    if len(images) != len(labels):
        raise DataError(f"{labels_where}: {len(labels)} labels for {len(images)} images in {images_where} "
                        f"(mismatched pair of files)")
    if transpose:
        images = images.transpose(0, 2, 1)
    return checked(labels_where, name, np.ascontiguousarray(images), labels.astype(np.int64) - label_offset,
                   class_names)


def load_idx_split(folder: Path, prefix: str, name: str, class_names: Sequence[str], *,
                   transpose: bool = False, label_offset: int = 0) -> LabelledImages:
    """Read ``{prefix}-images-idx3-ubyte[.gz]`` + ``{prefix}-labels-idx1-ubyte[.gz]`` from ``folder``."""
    images_path = find_idx(folder, f"{prefix}-images-idx3-ubyte")
    labels_path = find_idx(folder, f"{prefix}-labels-idx1-ubyte")
    return pair(read_idx(images_path, 3), read_idx(labels_path, 1), str(images_path), str(labels_path), name,
                class_names, transpose=transpose, label_offset=label_offset)


def load_idx_split_in_zip(archive: Path, prefix: str, name: str, class_names: Sequence[str], *,
                          transpose: bool = False, label_offset: int = 0) -> LabelledImages:
    """Like ``load_idx_split`` for files inside a zip (members found by their base name, any folder)."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.namelist()
    except (zipfile.BadZipFile, OSError) as err:
        raise DataError(f"{archive}: truncated or corrupt zip file ({describe(err)})") from None

    def member(kind: str) -> str:
        stem = f"{prefix}-{kind}-ubyte"
        for m in members:
            if m.rsplit("/", 1)[-1] in (stem, f"{stem}.gz"):
                return m
        raise DataError(f"{archive}: has no member {stem}[.gz]")

    images_member, labels_member = member("images-idx3"), member("labels-idx1")
    return pair(read_idx_in_zip(archive, images_member, 3), read_idx_in_zip(archive, labels_member, 1),
                f"{archive}:{images_member}", f"{archive}:{labels_member}", name, class_names,
                transpose=transpose, label_offset=label_offset)
