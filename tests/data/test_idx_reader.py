"""IDX reader: MNIST-like layouts (gzipped or not), EMNIST transposition, and clear errors on bad files."""

from __future__ import annotations

import gzip
import zipfile

import numpy as np
import pytest

from dpldm.data import DataError, load_dataset
from dpldm.data.idx import parse_idx

from .files import idx_bytes, one_line, random_images, write_idx, write_mnist_like


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "kmnist"])
def test_mnist_like_idx_round_trip(tmp_path, name, gz):
    written = write_mnist_like(tmp_path / name, gz=gz)
    for split in ("train", "test"):
        data = load_dataset(name, split, root=tmp_path, source="idx")
        images, labels = written[split]
        np.testing.assert_array_equal(data.images, images)
        np.testing.assert_array_equal(data.labels, labels)
        assert data.labels.dtype == np.int64 and data.num_classes == 10 and data.name == name


def test_npz_layout_comes_first_when_both_are_present(tmp_path):
    write_mnist_like(tmp_path / "fashion_mnist")
    np.savez(tmp_path / "fashion_mnist.npz", x_train=random_images(3), y_train=np.arange(3),
             x_test=random_images(2), y_test=np.arange(2))
    assert len(load_dataset("fashion_mnist", "train", root=tmp_path)) == 3
    assert len(load_dataset("fashion_mnist", "train", root=tmp_path, source="idx")) == 12


def test_emnist_letters_are_transposed_and_shifted_to_zero(tmp_path):
    upright = np.zeros((4, 28, 28), np.uint8)
    upright[:, 2, :] = 255  # a horizontal bar near the top
    labels = np.array([1, 2, 26, 5], np.uint8)  # EMNIST letters are numbered 1..26 on disk
    for split in ("train", "test"):
        write_idx(tmp_path / "emnist" / "gzip" / f"emnist-letters-{split}-images-idx3-ubyte.gz",
                  upright.transpose(0, 2, 1))
        write_idx(tmp_path / "emnist" / "gzip" / f"emnist-letters-{split}-labels-idx1-ubyte.gz", labels)
    data = load_dataset("emnist_letters", "train", root=tmp_path)
    np.testing.assert_array_equal(data.images, upright)
    np.testing.assert_array_equal(data.labels, [0, 1, 25, 4])
    assert data.class_names[25] == "Z" and data.num_classes == 26


def test_emnist_letters_read_straight_from_the_official_zip(tmp_path):
    images, labels = random_images(5), np.array([1, 3, 5, 7, 26], np.uint8)
    (tmp_path / "emnist").mkdir()
    with zipfile.ZipFile(tmp_path / "emnist" / "gzip.zip", "w") as zf:
        for split in ("train", "test"):
            zf.writestr(f"gzip/emnist-letters-{split}-images-idx3-ubyte.gz", gzip.compress(idx_bytes(images)))
            zf.writestr(f"gzip/emnist-letters-{split}-labels-idx1-ubyte.gz", gzip.compress(idx_bytes(labels)))
    data = load_dataset("emnist_letters", "test", root=tmp_path)
    np.testing.assert_array_equal(data.images, images.transpose(0, 2, 1))
    np.testing.assert_array_equal(data.labels, labels - 1)


def _error(tmp_path, **kwargs) -> str:
    with pytest.raises(DataError) as err:
        load_dataset("mnist", "train", root=tmp_path, **kwargs)
    assert one_line(str(err.value))
    return str(err.value)


def test_truncated_gz_names_the_file(tmp_path):
    write_mnist_like(tmp_path / "mnist")
    path = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    message = _error(tmp_path)
    assert str(path) in message and "truncated" in message


def test_truncated_raw_idx_names_the_file_and_the_byte_counts(tmp_path):
    write_mnist_like(tmp_path / "mnist", gz=False)
    path = tmp_path / "mnist" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    message = _error(tmp_path)
    assert str(path) in message and "truncated" in message and "(12, 28, 28)" in message


def test_wrong_magic_number_is_refused(tmp_path):
    write_mnist_like(tmp_path / "mnist")
    path = tmp_path / "mnist" / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(b"\x12\x34" + idx_bytes(np.zeros(12, np.uint8))[2:]))
    message = _error(tmp_path)
    assert str(path) in message and "not an IDX file" in message


def test_swapped_images_and_labels_are_named(tmp_path):
    write_mnist_like(tmp_path / "mnist")
    labels = tmp_path / "mnist" / "train-labels-idx1-ubyte.gz"
    images = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    data_i, data_l = images.read_bytes(), labels.read_bytes()
    images.write_bytes(data_l)
    labels.write_bytes(data_i)
    message = _error(tmp_path)
    assert str(images) in message and "swapped" in message


def test_label_count_mismatch_names_both_files(tmp_path):
    write_mnist_like(tmp_path / "mnist")
    labels = tmp_path / "mnist" / "train-labels-idx1-ubyte.gz"
    write_idx(labels, np.zeros(11, np.uint8))
    message = _error(tmp_path)
    assert str(labels) in message and "11 labels for 12 images" in message


def test_labels_out_of_range_are_called_mislabelled(tmp_path):
    write_mnist_like(tmp_path / "mnist")
    labels = tmp_path / "mnist" / "train-labels-idx1-ubyte.gz"
    write_idx(labels, np.full(12, 10, np.uint8))  # digits are 0..9
    message = _error(tmp_path)
    assert str(labels) in message and "mislabelled" in message


def test_unsupported_type_code_and_short_header():
    with pytest.raises(DataError, match="type code 0x0d"):
        parse_idx(bytes([0, 0, 0x0D, 1, 0, 0, 0, 0]), "x.idx", 1)
    with pytest.raises(DataError, match="header cut short"):
        parse_idx(bytes([0, 0, 0x08, 3, 0, 0]), "x.idx", 3)
    with pytest.raises(DataError, match="empty file"):
        parse_idx(b"", "x.idx", 1)
