"""CIFAR-10/100 python batches, from the folder or the .tar.gz, and refusal of corrupt or foreign pickles."""

from __future__ import annotations

import os
import pickle
import tarfile

import numpy as np
import pytest

from dpldm.data import DataError, load_dataset

from .files import one_line


def _batch_rows(images: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) -> the official (N, 3072) rows of R, G and B planes."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), -1)


def _write_pickle(path, obj) -> None:
    path.write_bytes(pickle.dumps(obj, protocol=2))


def write_cifar10(folder, n: int = 4, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A tiny cifar-10-batches-py/: 5 train batches of n images, a test batch, batches.meta."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    written: dict[str, list] = {"train": [[], []], "test": [[], []]}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, n).tolist()
        _write_pickle(folder / name, {b"batch_label": name.encode(), b"labels": labels,
                                      b"data": _batch_rows(images), b"filenames": [b"x.png"] * n})
        split = "test" if name == "test_batch" else "train"
        written[split][0].append(images)
        written[split][1].extend(labels)
    _write_pickle(folder / "batches.meta", {b"label_names": [b"airplane", b"automobile", b"bird", b"cat", b"deer",
                                                             b"dog", b"frog", b"horse", b"ship", b"truck"]})
    return {s: (np.concatenate(v[0]), np.asarray(v[1])) for s, v in written.items()}


def _tar(folder, archive) -> None:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)


def test_cifar10_python_batches(tmp_path):
    written = write_cifar10(tmp_path / "cifar10" / "cifar-10-batches-py")
    for split in ("train", "test"):
        data = load_dataset("cifar10", split, root=tmp_path)
        np.testing.assert_array_equal(data.images, written[split][0])
        np.testing.assert_array_equal(data.labels, written[split][1])
    assert data.class_names[0] == "airplane" and data.images.shape[1:] == (32, 32, 3)


def test_cifar10_straight_from_the_tar_gz(tmp_path):
    written = write_cifar10(tmp_path / "src" / "cifar-10-batches-py")
    (tmp_path / "cifar10").mkdir()
    _tar(tmp_path / "src" / "cifar-10-batches-py", tmp_path / "cifar10" / "cifar-10-python.tar.gz")
    data = load_dataset("cifar10", "train", root=tmp_path)
    assert len(data) == 20
    np.testing.assert_array_equal(data.images, written["train"][0])


def test_cifar100_fine_and_coarse_labels(tmp_path):
    folder = tmp_path / "cifar100" / "cifar-100-python"
    folder.mkdir(parents=True)
    images = np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    for name in ("train", "test"):
        _write_pickle(folder / name, {b"data": _batch_rows(images), b"fine_labels": [0, 99, 42],
                                      b"coarse_labels": [0, 19, 7]})
    _write_pickle(folder / "meta", {b"fine_label_names": [f"f{i}".encode() for i in range(100)],
                                    b"coarse_label_names": [f"c{i}".encode() for i in range(20)]})
    fine = load_dataset("cifar100", "train", root=tmp_path)
    coarse = load_dataset("cifar100", "test", root=tmp_path, label="coarse")
    np.testing.assert_array_equal(fine.images, images)
    assert fine.labels.tolist() == [0, 99, 42] and fine.num_classes == 100 and fine.class_names[99] == "f99"
    assert coarse.labels.tolist() == [0, 19, 7] and coarse.num_classes == 20


def test_truncated_batch_names_the_file(tmp_path):
    write_cifar10(tmp_path / "cifar10" / "cifar-10-batches-py")
    path = tmp_path / "cifar10" / "cifar-10-batches-py" / "data_batch_3"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DataError) as err:
        load_dataset("cifar10", "train", root=tmp_path)
    assert str(path) in str(err.value) and "not a CIFAR python batch" in str(err.value) and one_line(str(err.value))


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo should-never-run",))


def test_a_pickle_calling_anything_else_is_refused(tmp_path):
    write_cifar10(tmp_path / "cifar10" / "cifar-10-batches-py")
    path = tmp_path / "cifar10" / "cifar-10-batches-py" / "test_batch"
    _write_pickle(path, {b"data": _Evil(), b"labels": []})
    with pytest.raises(DataError, match="refusing to load"):
        load_dataset("cifar10", "test", root=tmp_path)


def test_mislabelled_batch_names_the_file(tmp_path):
    write_cifar10(tmp_path / "cifar10" / "cifar-10-batches-py")
    path = tmp_path / "cifar10" / "cifar-10-batches-py" / "test_batch"
    rows = np.zeros((2, 3072), np.uint8)
    _write_pickle(path, {b"data": rows, b"labels": [3, 10]})
    with pytest.raises(DataError) as err:
        load_dataset("cifar10", "test", root=tmp_path)
    assert str(path) in str(err.value) and "mislabelled" in str(err.value)


def test_wrong_row_size_and_missing_labels(tmp_path):
    write_cifar10(tmp_path / "cifar10" / "cifar-10-batches-py")
    path = tmp_path / "cifar10" / "cifar-10-batches-py" / "test_batch"
    _write_pickle(path, {b"data": np.zeros((2, 1024), np.uint8), b"labels": [0, 1]})
    with pytest.raises(DataError, match="3072"):
        load_dataset("cifar10", "test", root=tmp_path)
    _write_pickle(path, {b"data": np.zeros((2, 3072), np.uint8)})
    with pytest.raises(DataError, match="no 'labels' entry"):
        load_dataset("cifar10", "test", root=tmp_path)


def test_truncated_archive_names_the_file(tmp_path):
    write_cifar10(tmp_path / "src" / "cifar-10-batches-py", n=50)
    archive = tmp_path / "cifar10" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    _tar(tmp_path / "src" / "cifar-10-batches-py", archive)
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(DataError) as err:
        load_dataset("cifar10", "train", root=tmp_path)
    assert str(archive) in str(err.value) and "truncated" in str(err.value) and one_line(str(err.value))
