"""`dpldm bench fid`: images per second of the two TF-Inception backends, and how far apart their features are."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

from dpldm.cli.common import add_parser


def register(subparsers) -> None:
    parser = add_parser(subparsers, "fid", "Speed of the ONNX and TorchScript TF-Inception backends (img/s)",
                        description="Extract TF-Inception pool3 features of the first N test images with both "
                        "backends; print images per second (after one warm-up batch) and the max abs feature "
                        "difference. The ONNX file is exported into the cache folder on first use.")
    parser.add_argument("--n", type=int, default=32, help="images timed per backend")
    parser.add_argument("--batch-size", type=int, default=16, help="images per forward")
    parser.add_argument("--dataset", default="fashion_mnist", help="where the images come from (its test split)")
    parser.add_argument("--data-root", default=None, help="folder holding the datasets; None: $DPLDM_DATA")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def time_backend(extractor, images: np.ndarray, batch_size: int) -> tuple[np.ndarray, float]:
    """Features (N, D) and images per second, after one warm-up batch."""
    extractor.features(images[:batch_size])
    start = time.perf_counter()
    features = extractor.features(images)
    return features, len(images) / (time.perf_counter() - start)


def run(args: argparse.Namespace) -> int:
    from dpldm.data import load_dataset
    from dpldm.evaluation.backends import BACKENDS, inception_backend

    images = load_dataset(args.dataset, "test", root=args.data_root).images[:args.n]
    result: dict[str, Any] = {"bench": "fid", "n": len(images), "batch_size": args.batch_size,
                              "image_shape": list(images.shape[1:])}
    features = {}
    for name in BACKENDS:
        start = time.perf_counter()
        extractor = inception_backend(name, batch_size=args.batch_size)
        result[f"{name}_load_s"] = round(time.perf_counter() - start, 2)
        features[name], rate = time_backend(extractor, images, args.batch_size)
        result[f"{name}_img_per_s"] = round(rate, 2)
    result["speedup"] = round(result["onnx_img_per_s"] / result["torchscript_img_per_s"], 2)
    result["max_abs_feature_diff"] = float(np.abs(features["onnx"] - features["torchscript"]).max())
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value}")
    return 0
