"""Fixtures for the evaluation tests: a tiny learnable 'mnist' on disk, and a tiny feature extractor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def bar_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 (N, 28, 28): noise plus a bright horizontal bar whose row encodes the label (learnable)."""
    images = rng.integers(0, 60, (len(labels), 28, 28)).astype(np.uint8)
    for i, label in enumerate(labels):
        images[i, 2 * label + 4:2 * label + 6, 4:24] = 255
    return images


@pytest.fixture
def tiny_root(tmp_path: Path) -> Path:
    """A data root holding mnist.npz with 240 train / 200 test bar images (10 classes)."""
    rng = np.random.default_rng(0)
    y_train, y_test = rng.integers(0, 10, 240), rng.integers(0, 10, 200)
    root = tmp_path / "data"
    root.mkdir()
    np.savez(root / "mnist.npz", x_train=bar_images(y_train, rng), y_train=y_train.astype(np.uint8),
             x_test=bar_images(y_test, rng), y_test=y_test.astype(np.uint8))
    return root


@pytest.fixture
def synthetic_npz(tmp_path: Path) -> Path:
    """A 'synthetic' set of 300 learnable bar images with labels."""
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, 300)
    path = tmp_path / "synthetic.npz"
    np.savez(path, images=bar_images(labels, rng), labels=labels.astype(np.int64))
    return path


class TinyFeatures:
    """4x4 average-pooled pixels as a 16-d (48-d for RGB) feature: a stand-in for Inception in tests."""

    name = "tiny-avgpool4"
    dim = 16

    def features(self, images: np.ndarray) -> np.ndarray:
        x = images.astype(np.float64)
        x = x[..., None] if x.ndim == 3 else x  # (N, H, W, C)
        n, h, w, c = x.shape
        x = x[:, :h - h % 4, :w - w % 4].reshape(n, 4, h // 4, 4, w // 4, c).mean(axis=(2, 4))
        return x.reshape(n, -1) / 255.0


@pytest.fixture
def tiny_features() -> TinyFeatures:
    return TinyFeatures()


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test writes its cache under tmp_path, never into ~/.cache."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("DPLDM_CACHE", str(folder))
    return folder


def held_out_facts(dataset: str = "mnist", key: int = 0, *, holdout: bool = True) -> dict:
    """model.json facts of a generator fine-tuned on ``dataset``:train that held out the split of ``key``."""
    from dpldm.data.validation_split import split_facts

    return {"private_data": {"name": dataset, "split": "train", "seed": key, "options": {}},
            "holdout_validation": holdout, "validation_split": split_facts(key) if holdout else None}


@pytest.fixture
def held_out():
    """held_out_facts, for tests that build other generators' facts."""
    return held_out_facts


@pytest.fixture
def generator_facts() -> dict:
    """model.json facts of a generator of the tiny 'mnist' that held out the split of key 0."""
    return held_out_facts()
