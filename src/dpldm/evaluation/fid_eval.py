"""FID, precision and recall of an image set against a real split, with real-split features cached.

The reference is the PRIVATE train split by default, as DPImageBench measures it. FID reads the private data directly:
it is a non-private diagnostic, not a DP release.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from dpldm.data import LabelledImages, load_dataset
from dpldm.errors import DpldmError
from dpldm.evaluation.features import FeatureExtractor, cache_dir
from dpldm.evaluation.frechet import GaussianStats, fid_from_stats
from dpldm.evaluation.precision_recall import precision_recall
from dpldm.evaluation.sources import load_image_set, parse_real, subsample_index

PRIVACY_NOTE = ("FID and precision/recall read the private reference split directly: a non-private diagnostic "
                "(as in DPImageBench), not part of the DP release")


def real_cache_path(dataset: str, split: str, n: int, seed: int, feature: str) -> Path:
    return cache_dir() / "features" / f"{dataset}-{split}-n{n}-seed{seed}-{feature}.npz"


def real_features(dataset: str, split: str, *, n: int | None, seed: int, extractor: FeatureExtractor,
                  data_root: str | None = None) -> tuple[np.ndarray, GaussianStats, Path]:
    """Features (N, D) and statistics of a seeded subset of n images of a real split, cached on disk.

    The cache holds float32 features (for precision/recall) and float64 mu/sigma computed before rounding.
    """
    data = load_dataset(dataset, split, root=data_root)
    index = subsample_index(len(data), n, seed)
    path = real_cache_path(dataset, split, len(index), seed, extractor.name)
    if path.is_file():
        cached = np.load(path)
        return cached["features"].astype(np.float64), GaussianStats(cached["mu"], cached["sigma"], len(index)), path
    features = extractor.features(data.images[index])  # (N, D) float64
    stats = GaussianStats.of(features)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, features=features.astype(np.float32), mu=stats.mu, sigma=stats.sigma, index=index)
    tmp.replace(path)
    return features, stats, path


def set_features(spec: str, *, n: int | None, seed: int, extractor: FeatureExtractor,
                 data_root: str | None = None) -> tuple[np.ndarray, GaussianStats]:
    """Features and statistics of up to n images of ``spec`` (a real split goes through the cache)."""
    real = parse_real(spec)
    if real is not None:
        features, stats, _ = real_features(real[0], real[1], n=n, seed=seed, extractor=extractor,
                                           data_root=data_root)
        return features, stats
    images: LabelledImages = load_image_set(spec, data_root=data_root, need_labels=False)
    features = extractor.features(images.images[subsample_index(len(images), n, seed)])
    return features, GaussianStats.of(features)


def evaluate_fid(synthetic: str, *, dataset: str, split: str = "train", n: int | None = 10_000,
                 extractor: FeatureExtractor, data_root: str | None = None, k: int = 4,
                 seed: int = 0) -> dict[str, Any]:
    """FID and precision/recall (k-NN, k) of up to n images of ``synthetic`` against n of ``dataset``/``split``.

    Both sides are seeded uniform subsets (seed) when larger than n.
    """
    start = time.perf_counter()

    # Reference side (cached).
    real, real_stats, cache = real_features(dataset, split, n=n, seed=seed, extractor=extractor,
                                            data_root=data_root)

    # Evaluated side.
    fake, fake_stats = set_features(synthetic, n=n, seed=seed, extractor=extractor, data_root=data_root)
    if fake.shape[1] != real.shape[1]:
        raise DpldmError(f"feature dimensions differ: {fake.shape[1]} vs {real.shape[1]}")

    # Metrics.
    fid = fid_from_stats(fake_stats, real_stats)
    precision, recall = precision_recall(real, fake, k=k) if min(len(real), len(fake)) > k else (None, None)
    return {
        "metric": "fid",
        "fid": fid,
        "precision": precision,
        "recall": recall,
        "k": k,
        "synthetic": synthetic,
        "n_synthetic": int(len(fake)),
        "reference": f"{dataset}:{split}",
        "n_reference": int(len(real)),
        "features": extractor.name,
        "reference_cache": str(cache),
        "seconds": round(time.perf_counter() - start, 1),
        "privacy": PRIVACY_NOTE,
    }
