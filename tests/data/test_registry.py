"""load_dataset's checks: unknown names, splits, options and sources, missing files, limits, `data list` status."""

from __future__ import annotations

import numpy as np
import pytest

from dpldm.data import REGISTRY, DataError, load_dataset
from dpldm.data.registry import dataset_status

from .files import one_line, random_images

NAMED = ("mnist", "fashion_mnist", "emnist_letters", "kmnist", "cifar10", "cifar100", "celeba", "imagenet32",
         "imagenet64", "omniglot", "tiny_imagenet32", "digits", "glyphs")


def test_every_named_dataset_is_registered():
    assert set(NAMED) <= set(REGISTRY)


def test_missing_dataset_names_expected_files_and_folder(tmp_path):
    with pytest.raises(DataError) as err:
        load_dataset("fashion_mnist", "train", root=tmp_path)
    message = str(err.value)
    assert one_line(message) and str(tmp_path.resolve()) in message
    assert "fashion_mnist.npz" in message and "fashion_mnist/train-images-idx3-ubyte" in message
    assert "--download" in message


def test_missing_without_download_option_is_not_suggested(tmp_path):
    with pytest.raises(DataError) as err:
        load_dataset("omniglot", "all", root=tmp_path)
    assert "omniglot.npz" in str(err.value) and "--download" not in str(err.value)


def test_unknown_name_split_option_and_source(tmp_path):
    with pytest.raises(DataError, match="unknown dataset 'nope'; known: .*mnist"):
        load_dataset("nope")
    with pytest.raises(DataError, match="no split 'val'; splits: train, test"):
        load_dataset("mnist", "val", root=tmp_path)
    with pytest.raises(DataError, match="has no option 'colour'; options: box, case, count"):
        load_dataset("glyphs", "train", colour="red")
    with pytest.raises(DataError, match="no source 'zip'; sources: npz, idx"):
        load_dataset("mnist", "train", root=tmp_path, source="zip")


def test_limit_is_a_seeded_subset_in_original_order(tmp_path):
    np.savez(tmp_path / "mnist.npz", x_train=random_images(100), y_train=np.arange(100) % 10)
    a = load_dataset("mnist", "train", root=tmp_path, limit=10, limit_seed=3)
    b = load_dataset("mnist", "train", root=tmp_path, limit=10, limit_seed=3)
    c = load_dataset("mnist", "train", root=tmp_path, limit=10, limit_seed=4)
    full = load_dataset("mnist", "train", root=tmp_path)
    assert len(a) == 10 and np.array_equal(a.images, b.images) and not np.array_equal(a.images, c.images)
    rows = [int(np.flatnonzero((full.images == img).all(axis=(1, 2)))[0]) for img in a.images]
    assert rows == sorted(rows)
    assert len(load_dataset("mnist", "train", root=tmp_path, limit=1000)) == 100
    with pytest.raises(DataError, match="limit must be a positive"):
        load_dataset("mnist", "train", root=tmp_path, limit=0)


def test_data_root_from_environment(tmp_path, monkeypatch):
    np.savez(tmp_path / "mnist.npz", x_test=random_images(2), y_test=np.arange(2))
    monkeypatch.setenv("DPLDM_DATA", str(tmp_path))
    assert len(load_dataset("mnist", "test")) == 2


def test_status_for_list(tmp_path):
    np.savez(tmp_path / "omniglot.npz", x=random_images(1))
    assert dataset_status(REGISTRY["omniglot"], tmp_path) == "present (npz)"
    assert dataset_status(REGISTRY["mnist"], tmp_path) == "missing"
    assert dataset_status(REGISTRY["glyphs"], tmp_path) == "built-in"
    assert dataset_status(REGISTRY["folder"], tmp_path).startswith("user data")


def test_digits_is_built_in():
    data = load_dataset("digits", "all")
    assert data.images.shape == (1797, 8, 8) and data.images.max() == 255 and data.num_classes == 10
