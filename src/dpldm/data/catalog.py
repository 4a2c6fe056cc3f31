"""The named datasets: for each, its on-disk layouts under the data root (first present wins), splits and classes.

    mnist, fashion_mnist   <name>.npz (shared offline archive), or the official IDX files in <name>/
    kmnist                 IDX files in kmnist/
    emnist_letters         emnist-letters-* IDX files in emnist/ (any sub-folder), or the official emnist/gzip.zip
    cifar10                cifar10/cifar-10-batches-py/, cifar10/cifar-10-python.tar.gz, or cifar10_jpeg.npz
    cifar100               cifar100/cifar-100-python/ or cifar100/cifar-100-python.tar.gz
    celeba                 celeba/img_align_celeba/ + celeba/list_attr_celeba.txt (+ list_eval_partition.txt)
    imagenet32, imagenet64 <name>/[<any>/]train_data_batch_1..10.npz + val_data.npz, or <name>/{train,val}/<class>/
    omniglot, tiny_imagenet32   the shared offline archives
    digits, glyphs         built in (scikit-learn's 8x8 digits; letters rendered from matplotlib's fonts)
    folder, npz, captions  the user's own data, given by the option path=...
"""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np

from dpldm.data.captions import load_user_captions
from dpldm.data.celeba import load_celeba
from dpldm.data.checks import DataError, checked, index_names
from dpldm.data.cifar import CIFAR10_ARCHIVE, CIFAR10_FOLDER, CIFAR100_ARCHIVE, CIFAR100_FOLDER, load_cifar10, \
    load_cifar100
from dpldm.data.folder import load_image_folder, load_user_folder
from dpldm.data.glyphs import load_glyphs
from dpldm.data.idx import load_idx_split, load_idx_split_in_zip
from dpldm.data.images import LabelledImages
from dpldm.data.npz import load_imagenet_batches, load_user_npz, read_jpeg_npz, read_omniglot, read_split_npz
from dpldm.data.registry import DatasetSpec, Layout, register

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
KMNIST_CLASSES = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")  # romanised hiragana
LETTER_CLASSES = tuple(string.ascii_uppercase)  # EMNIST letters: upper and lower case merged, labels 1..26 on disk
USER_SPLITS = ("all", "train", "test", "val")


def _mnist_like(name: str, description: str, classes: tuple[str, ...], *, npz: bool) -> DatasetSpec:
    """A 28x28 set as the four official IDX files in ``<name>/``, preceded by ``<name>.npz`` if ``npz``."""

    def from_idx(root: Path, split: str) -> LabelledImages:
        return load_idx_split(root / name, "train" if split == "train" else "t10k", name, classes)

    def from_npz(root: Path, split: str) -> LabelledImages:
        return read_split_npz(root / f"{name}.npz", split, name, classes)

    idx_files = tuple(f"{name}/{prefix}-{kind}-ubyte*" for prefix in ("train", "t10k")
                      for kind in ("images-idx3", "labels-idx1"))
    layouts = (Layout("idx", idx_files, from_idx),)
    if npz:
        layouts = (Layout("npz", (f"{name}.npz",), from_npz),) + layouts
    return DatasetSpec(name, description, layouts)


def _emnist_idx(root: Path, split: str) -> LabelledImages:
    return load_idx_split(root / "emnist", f"emnist-letters-{split}", "emnist_letters", LETTER_CLASSES,
                          transpose=True, label_offset=1)


def _emnist_zip(root: Path, split: str) -> LabelledImages:
    return load_idx_split_in_zip(root / "emnist" / "gzip.zip", f"emnist-letters-{split}", "emnist_letters",
                                 LETTER_CLASSES, transpose=True, label_offset=1)


def _cifar10_folder(root: Path, split: str) -> LabelledImages:
    return load_cifar10(root / "cifar10" / CIFAR10_FOLDER, split)


def _cifar10_archive(root: Path, split: str) -> LabelledImages:
    return load_cifar10(root / "cifar10" / CIFAR10_ARCHIVE, split)


def _cifar10_npz(root: Path, split: str, limit: int | None = None, limit_seed: int = 0) -> LabelledImages:
    """The JPEG-bytes archive: pixels went through JPEG, so not bit-identical to the official batches."""
    return read_jpeg_npz(root / "cifar10_jpeg.npz", split, "cifar10", "is_test", CIFAR10_CLASSES, limit, limit_seed)


def _cifar100_folder(root: Path, split: str, label: str = "fine") -> LabelledImages:
    return load_cifar100(root / "cifar100" / CIFAR100_FOLDER, split, label)


def _cifar100_archive(root: Path, split: str, label: str = "fine") -> LabelledImages:
    return load_cifar100(root / "cifar100" / CIFAR100_ARCHIVE, split, label)


def _celeba(root: Path, split: str, attribute: str = "Male", size: int | None = 64, limit: int | None = None,
            limit_seed: int = 0) -> LabelledImages:
    return load_celeba(root / "celeba", split, attribute, size, limit, limit_seed)


def _batch_number(path: Path) -> int:
    return int(path.stem.rsplit("_", 1)[-1])


def _imagenet(name: str, size: int) -> DatasetSpec:
    """Downsampled ImageNet (Chrabaszcz et al. 2017) at ``size``: official npz batches, or class folders."""

    def from_npz(root: Path, split: str, limit: int | None = None, limit_seed: int = 0) -> LabelledImages:
        pattern = "train_data_batch_*.npz" if split == "train" else "val_data.npz"
        found = [*(root / name).glob(pattern), *(root / name).glob(f"*/{pattern}")]  # as unzipped, or one level down
        files = sorted(found, key=_batch_number if split == "train" else str)
        if not files:
            raise DataError(f"{root / name}: no {pattern} for split '{split}'")
        return load_imagenet_batches(files, name, size, limit, limit_seed)

    def from_folder(root: Path, split: str, limit: int | None = None, limit_seed: int = 0) -> LabelledImages:
        return load_image_folder(root / name / split, name, mode="RGB", size=size, limit=limit,
                                 limit_seed=limit_seed)

    return DatasetSpec(name, f"ImageNet {size}x{size} RGB, 1,000 classes (npz batches or class folders)",
                       (Layout("npz", (f"{name}/train_data_batch_1.npz",), from_npz),
                        Layout("npz", (f"{name}/*/train_data_batch_1.npz",), from_npz),
                        Layout("folder", (f"{name}/train",), from_folder)), splits=("train", "val"))


def _omniglot(root: Path, split: str, label: str = "alphabet") -> LabelledImages:
    return read_omniglot(root / "omniglot.npz", split, label)


def _tiny_imagenet32(root: Path, split: str, limit: int | None = None, limit_seed: int = 0) -> LabelledImages:
    return read_jpeg_npz(root / "tiny_imagenet32_jpeg.npz", "train" if split == "train" else "test",
                         "tiny_imagenet32", "is_val", None, limit, limit_seed)


DIGITS_TEST_FRACTION = 0.2  # digits has no official split: a fixed, stratified 20% is its test set


def _digits(root: Path, split: str) -> LabelledImages:
    """scikit-learn's embedded 8x8 digits (1,797 images, 0..16 intensities) scaled to uint8.

    split: 'all'; or 'train' (1,438) / 'test' (359), a fixed stratified 80/20 split (seed 0), so a model trained
    on 'train' can be tested on real digits it never saw.
    """
    from sklearn.datasets import load_digits

    from dpldm.data.splits import split_indices

    bunch = load_digits()
    images = np.clip(np.rint(bunch.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    data = checked("sklearn.datasets.load_digits", "digits", images, bunch.target, index_names(10))
    if split == "all":
        return data
    train, test = split_indices(len(data), DIGITS_TEST_FRACTION, seed=0, labels=data.labels)
    return data.subset(train if split == "train" else test)


register(_mnist_like("mnist", "MNIST handwritten digits, 28x28 (npz: 10,000 train + 10,000 test; IDX: 60,000 + "
                     "10,000)", index_names(10), npz=True))
register(_mnist_like("fashion_mnist", "Fashion-MNIST clothing, 28x28, 10 classes", FASHION_CLASSES, npz=True))
register(_mnist_like("kmnist", "Kuzushiji-MNIST cursive Japanese characters, 28x28, 10 classes", KMNIST_CLASSES,
                     npz=False))
register(DatasetSpec(
    "emnist_letters", "EMNIST letters, 28x28, 26 classes (upper and lower case merged)",
    (Layout("idx", tuple(f"emnist/**/emnist-letters-{split}-{kind}-ubyte*" for split in ("train", "test")
                         for kind in ("images-idx3", "labels-idx1")), _emnist_idx),
     Layout("zip", ("emnist/gzip.zip",), _emnist_zip))))
register(DatasetSpec(
    "cifar10", "CIFAR-10, 32x32 RGB, 10 classes (official python batches, or the JPEG-bytes npz)",
    (Layout("python", (f"cifar10/{CIFAR10_FOLDER}/batches.meta",), _cifar10_folder),
     Layout("archive", (f"cifar10/{CIFAR10_ARCHIVE}",), _cifar10_archive),
     Layout("npz", ("cifar10_jpeg.npz",), _cifar10_npz))))
register(DatasetSpec(
    "cifar100", "CIFAR-100, 32x32 RGB, 100 fine / 20 coarse classes (option label)",
    (Layout("python", (f"cifar100/{CIFAR100_FOLDER}/meta",), _cifar100_folder),
     Layout("archive", (f"cifar100/{CIFAR100_ARCHIVE}",), _cifar100_archive))))
register(DatasetSpec(
    "celeba", "CelebA aligned faces, RGB (option size, default 64), one binary attribute (option attribute, "
    "default Male)", (Layout("folder", ("celeba/list_attr_celeba.txt", "celeba/img_align_celeba"), _celeba),),
    splits=("train", "valid", "test", "all")))
register(_imagenet("imagenet32", 32))
register(_imagenet("imagenet64", 64))
register(DatasetSpec(
    "omniglot", "Omniglot handwritten characters, 50 alphabets, 28x28 (public stand-in for EMNIST)",
    (Layout("npz", ("omniglot.npz",), _omniglot),), splits=("all", "background", "evaluation", "train")))
register(DatasetSpec(
    "tiny_imagenet32", "Tiny ImageNet at 32x32, 200 classes (public stand-in for ImageNet32)",
    (Layout("npz", ("tiny_imagenet32_jpeg.npz",), _tiny_imagenet32),), splits=("train", "val", "test")))
register(DatasetSpec("digits", "scikit-learn's embedded 8x8 digits (1,797 images)",
                     (Layout("builtin", (), _digits),), splits=("all", "train", "test")))
register(DatasetSpec("glyphs", "Synthetic letters rendered from bundled fonts with random distortions, 28x28 "
                     "(options count, size, seed, include_digits, fonts, case, box; public stand-in for EMNIST "
                     "letters)",
                     (Layout("builtin", (), load_glyphs),)))
register(DatasetSpec("folder", "Your images: option path=<folder>/<class>/<image> (PNG/JPEG)",
                     (Layout("folder", (), load_user_folder),), splits=USER_SPLITS, user_data=True))
register(DatasetSpec("npz", "Your arrays: option path=<file.npz> with x_train/y_train/... or x/y",
                     (Layout("npz", (), load_user_npz),), splits=USER_SPLITS, user_data=True))
register(DatasetSpec("captions", "Your captioned images: option path=<folder> with captions.csv or .jsonl "
                     "(file,text)", (Layout("table", (), load_user_captions),), splits=USER_SPLITS, user_data=True))
