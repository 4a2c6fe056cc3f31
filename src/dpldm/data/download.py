"""Opt-in downloads (``--download``) of the datasets with official public URLs, checksummed and written atomically.

Nothing downloads unless the user asks. Each file is streamed to a hidden temporary file next to its target,
hashed on the way, and renamed into place only when the checksum matches, so an interrupted or tampered
download never leaves a file that looks complete. Checksums are the md5 sums the publishers (and torchvision)
list for these exact files.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dpldm.data.checks import DataError
from dpldm.data.registry import DOWNLOADABLE

CHUNK = 1 << 20
TIMEOUT_S = 60


@dataclass(frozen=True)
class Resource:
    """One file to fetch: mirror URLs tried in order, its path under the data root, 'md5:<hex>' or 'sha256:<hex>'."""

    urls: tuple[str, ...]
    target: str
    checksum: str


def _idx_set(folder: str, mirrors: tuple[str, ...], md5: dict[str, str]) -> tuple[Resource, ...]:
    return tuple(Resource(tuple(m + file for m in mirrors), f"{folder}/{file}", f"md5:{digest}")
                 for file, digest in md5.items())


MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
FASHION_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                   "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/")
KMNIST_MIRRORS = ("https://codh.rois.ac.jp/kmnist/dataset/kmnist/", "http://codh.rois.ac.jp/kmnist/dataset/kmnist/")

RESOURCES: dict[str, tuple[Resource, ...]] = {
    "mnist": _idx_set("mnist", MNIST_MIRRORS, {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"}),
    "fashion_mnist": _idx_set("fashion_mnist", FASHION_MIRRORS, {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"}),
    "kmnist": _idx_set("kmnist", KMNIST_MIRRORS, {
        "train-images-idx3-ubyte.gz": "bdb82020997e1d708af4cf47b453dcf7",
        "train-labels-idx1-ubyte.gz": "e144d726b3acfaa3e44228e80efcd344",
        "t10k-images-idx3-ubyte.gz": "5c965bf0a639b31b8f53240b1b52f4d7",
        "t10k-labels-idx1-ubyte.gz": "7320c461ea6c1c855c0b718fb2a4b134"}),
    "emnist_letters": (Resource(("https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip",), "emnist/gzip.zip",
                                "md5:58c8d27c78d21e728a6bc7b3cc06412e"),),  # 536 MB: every EMNIST split
    "cifar10": (Resource(("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
                         "cifar10/cifar-10-python.tar.gz", "md5:c58f30108f718f92721af3b95e74349a"),),
    "cifar100": (Resource(("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",),
                          "cifar100/cifar-100-python.tar.gz", "md5:eb9058c3a382ffc7106e4002c42a8d85"),),
}
DOWNLOADABLE.update(RESOURCES)


def _hasher(checksum: str) -> tuple[Any, str]:
    algorithm, _, digest = checksum.partition(":")
    if algorithm not in ("md5", "sha256") or not digest:
        raise ValueError(f"checksum must be 'md5:<hex>' or 'sha256:<hex>', got {checksum!r}")
    return hashlib.new(algorithm), digest.lower()


def file_matches(path: Path, checksum: str) -> bool:
    """Whether ``path`` exists and hashes to ``checksum``."""
    if not path.is_file():
        return False
    hasher, digest = _hasher(checksum)
    with path.open("rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            hasher.update(block)
    return hasher.hexdigest() == digest


def fetch(url: str, target: Path, checksum: str, *, timeout: float = TIMEOUT_S) -> None:
    """Download ``url`` to ``target`` atomically; a checksum mismatch leaves nothing behind and raises DataError.

    Network failures raise ``OSError`` (``urllib.error.URLError`` included) for the caller to try a mirror.
    """
    hasher, digest = _hasher(checksum)
    target.parent.mkdir(parents=True, exist_ok=True)
    request = urllib.request.Request(url, headers={"User-Agent": "dpldm (dataset download)"})
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as response:
            for block in iter(lambda: response.read(CHUNK), b""):
                hasher.update(block)
                out.write(block)
        got = hasher.hexdigest()
        if got != digest:
            algorithm = checksum.partition(":")[0]
            raise DataError(f"{url}: checksum mismatch ({algorithm} expected {digest}, got {got}); the file was "
                            f"not saved. Retry later, or fetch {target.name} by hand into {target.parent}")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_downloaded(name: str, root: Path) -> list[Path]:
    """Fetch every file of dataset ``name`` under ``root`` that is missing or fails its checksum."""
    if name not in RESOURCES:
        raise DataError(f"dataset '{name}' cannot be downloaded; downloadable: {', '.join(sorted(RESOURCES))}")
    paths = []
    for resource in RESOURCES[name]:
        target = root / resource.target
        paths.append(target)
        if file_matches(target, resource.checksum):
            continue
        errors = []
        for url in resource.urls:
            print(f"dpldm: downloading {url} -> {target}", file=sys.stderr)
            try:
                fetch(url, target, resource.checksum)
                break
            except urllib.error.HTTPError as err:
                errors.append(f"{url}: HTTP {err.code} {err.reason}")
            except OSError as err:  # URLError, timeouts, refused connections
                errors.append(f"{url}: {getattr(err, 'reason', None) or err}")
        else:
            raise DataError(f"could not download {target.name} for '{name}' ({'; '.join(errors)}); "
                            f"fetch it by hand into {target.parent}")
    return paths
