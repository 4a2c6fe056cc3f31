"""npz readers: the shared archives' layouts, user arrays, ImageNet32/64 batches, truncated archives."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from dpldm.data import DataError, load_dataset

from .files import one_line, random_images


def test_split_npz_and_truncated_npz_names_the_file(tmp_path):
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=random_images(50), y_train=np.arange(50) % 10, x_test=random_images(5),
             y_test=np.arange(5))
    data = load_dataset("mnist", "train", root=tmp_path)
    assert data.images.shape == (50, 28, 28) and data.labels[:3].tolist() == [0, 1, 2]
    path.write_bytes(path.read_bytes()[:-300])  # the zip directory at the end is gone
    with pytest.raises(DataError) as err:
        load_dataset("mnist", "train", root=tmp_path)
    assert str(path) in str(err.value) and "truncated" in str(err.value) and one_line(str(err.value))


def test_npz_with_a_missing_key_or_wrong_dtype(tmp_path):
    np.savez(tmp_path / "mnist.npz", x_train=random_images(2), y_train=np.arange(2))
    with pytest.raises(DataError, match="missing array 'x_test'"):
        load_dataset("mnist", "test", root=tmp_path)
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((2, 28, 28), np.float32), y_train=np.arange(2))
    with pytest.raises(DataError, match="must be uint8"):
        load_dataset("mnist", "train", root=tmp_path)


def test_jpeg_bytes_npz_decodes_the_split(tmp_path):
    colours = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200], [120, 120, 120]], np.uint8)
    images = np.broadcast_to(colours[:, None, None, :], (4, 32, 32, 3))
    blobs = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=95)
        blobs.append(np.frombuffer(buffer.getvalue(), np.uint8))
    offsets = np.cumsum([0] + [len(b) for b in blobs])
    np.savez(tmp_path / "cifar10_jpeg.npz", jpeg_bytes=np.concatenate(blobs), offsets=offsets,
             y=np.array([0, 9, 3, 4]), is_test=np.array([0, 0, 1, 1], np.uint8))
    test = load_dataset("cifar10", "test", root=tmp_path)
    assert test.labels.tolist() == [3, 4] and test.images.shape == (2, 32, 32, 3)
    assert np.abs(test.images.astype(int) - images[2:]).max() < 8  # JPEG is near-lossless on flat colour
    assert len(load_dataset("cifar10", "train", root=tmp_path, limit=1)) == 1


def test_user_npz_layouts(tmp_path):
    path = tmp_path / "mine.npz"
    np.savez(path, x=random_images(3, 8, 8, channels=3).transpose(0, 3, 1, 2), y=np.array([0, 2, 1]),
             classes=np.array(["a", "b", "c"]))
    data = load_dataset("npz", "all", path=str(path))
    assert data.images.shape == (3, 8, 8, 3) and data.class_names == ("a", "b", "c") and data.name == "mine"
    np.savez(path, x_train=random_images(2, 8, 8)[..., None])
    unlabelled = load_dataset("npz", "train", path=str(path))
    assert unlabelled.images.shape == (2, 8, 8) and unlabelled.class_names == ("image",)
    with pytest.raises(DataError, match="no 'x_test' array"):
        load_dataset("npz", "test", path=str(path))
    np.savez(path, x=np.zeros((2, 8, 8), np.float32))
    with pytest.raises(DataError, match="astype"):
        load_dataset("npz", "all", path=str(path))


def _imagenet_batch(path, n: int, size: int, first_label: int) -> np.ndarray:
    images = random_images(n, size, size, seed=first_label, channels=3)
    rows = images.transpose(0, 3, 1, 2).reshape(n, -1)  # R plane, then G, then B
    np.savez(path, data=rows, labels=list(range(first_label, first_label + n)), mean=np.zeros(3 * size * size))
    return images


def test_imagenet32_npz_batches_are_one_based_and_planar(tmp_path):
    folder = tmp_path / "imagenet32" / "Imagenet32_train_npz"
    folder.mkdir(parents=True)
    first = _imagenet_batch(folder / "train_data_batch_1.npz", 3, 32, 1)
    tenth = _imagenet_batch(folder / "train_data_batch_10.npz", 2, 32, 1000 - 1)
    second = _imagenet_batch(folder / "train_data_batch_2.npz", 2, 32, 500)
    val = _imagenet_batch(tmp_path / "imagenet32" / "val_data.npz", 2, 32, 7)
    train = load_dataset("imagenet32", "train", root=tmp_path)
    np.testing.assert_array_equal(train.images, np.concatenate([first, second, tenth]))  # batch 2 before 10
    assert train.labels.tolist() == [0, 1, 2, 499, 500, 998, 999] and train.num_classes == 1000
    np.testing.assert_array_equal(load_dataset("imagenet32", "val", root=tmp_path).images, val)
    subset = load_dataset("imagenet32", "train", root=tmp_path, limit=3, limit_seed=1)
    assert len(subset) == 3 and set(subset.labels) <= set(train.labels)
    (tmp_path / "imagenet64").symlink_to(tmp_path / "imagenet32")  # 32x32 batches where 64x64 are expected
    with pytest.raises(DataError, match="wrong resolution"):
        load_dataset("imagenet64", "train", root=tmp_path)


def test_imagenet_class_folders_are_cropped_and_resized(tmp_path):
    for wnid in ("n01", "n02"):
        folder = tmp_path / "imagenet32" / "train" / wnid
        folder.mkdir(parents=True)
        Image.fromarray(random_images(1, 40, 48, channels=3)[0]).save(folder / "a.png")
    data = load_dataset("imagenet32", "train", root=tmp_path)
    assert data.images.shape == (2, 32, 32, 3) and data.class_names == ("n01", "n02")
