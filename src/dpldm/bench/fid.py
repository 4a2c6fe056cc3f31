"""Images per second of the two TF-Inception backends, and how far apart their features are (`dpldm bench fid`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class FidBenchSettings:
    n: int = 32  # images timed per backend: the first N of the test split
    batch_size: int = 16  # images per forward
    dataset: str = "fashion_mnist"  # where the images come from (its test split)


def time_backend(extractor, images: np.ndarray, batch_size: int) -> tuple[np.ndarray, float]:
    """Features (N, D) and images per second, after one warm-up batch."""
    extractor.features(images[:batch_size])
    start = time.perf_counter()
    features = extractor.features(images)
    return features, len(images) / (time.perf_counter() - start)


def run_fid_bench(settings: FidBenchSettings, *, data_root: str | None = None) -> dict[str, Any]:
    """TF-Inception pool3 features of the first N test images with both backends: each one's load time and images
    per second (after one warm-up batch), ONNX's speed-up and the max abs feature difference. ``data_root``: the
    folder holding the datasets (None: $DPLDM_DATA)."""
    from dpldm.data import load_dataset
    from dpldm.evaluation.backends import BACKENDS, inception_backend

    images = load_dataset(settings.dataset, "test", root=data_root).images[:settings.n]
    result: dict[str, Any] = {"bench": "fid", "n": len(images), "batch_size": settings.batch_size,
                              "image_shape": list(images.shape[1:])}
    features = {}
    for name in BACKENDS:
        start = time.perf_counter()
        extractor = inception_backend(name, batch_size=settings.batch_size)
        result[f"{name}_load_s"] = round(time.perf_counter() - start, 2)
        features[name], rate = time_backend(extractor, images, settings.batch_size)
        result[f"{name}_img_per_s"] = round(rate, 2)
    result["speedup"] = round(result["onnx_img_per_s"] / result["torchscript_img_per_s"], 2)
    result["max_abs_feature_diff"] = float(np.abs(features["onnx"] - features["torchscript"]).max())
    return result
