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
from dpldm.data.transforms import to_shape
from dpldm.errors import DpldmError
from dpldm.evaluation.features import FeatureExtractor, cache_dir
from dpldm.evaluation.frechet import GaussianStats, fid_from_stats
from dpldm.evaluation.precision_recall import precision_recall
from dpldm.evaluation.sources import load_image_set, parse_real, subsample_index

PRIVACY_NOTE = ("FID and precision/recall read the private reference split directly: a non-private diagnostic "
                "(as in DPImageBench), not part of the DP release")


def real_cache_path(dataset: str, split: str, n: int, seed: int, feature: str,
                    shape: tuple[int, int] | None = None) -> Path:
    converted = "" if shape is None else f"-as{shape[0]}px{shape[1]}ch"
    return cache_dir() / "features" / f"{dataset}-{split}-n{n}-seed{seed}{converted}-{feature}.npz"


def real_features(dataset: str, split: str, *, n: int | None, seed: int, extractor: FeatureExtractor,
                  data_root: str | None = None, shape: tuple[int, int] | None = None,
                  ) -> tuple[np.ndarray, GaussianStats, Path]:
    """Features (N, D) and statistics of a seeded subset of n images of a real split, cached on disk.

    shape: (size, channels) to convert the real images to first (grey and resized as training data is prepared),
    or None to use them as stored. The cache holds float32 features (for precision/recall) and float64 mu/sigma
    computed before rounding.
    """
    data = load_dataset(dataset, split, root=data_root)
    index = subsample_index(len(data), n, seed)
    path = real_cache_path(dataset, split, len(index), seed, extractor.name, shape)
    if path.is_file():
        cached = np.load(path)
        return cached["features"].astype(np.float64), GaussianStats(cached["mu"], cached["sigma"], len(index)), path
    images = data.images[index]
    features = extractor.features(images if shape is None else to_shape(images, *shape))  # (N, D) float64
    stats = GaussianStats.of(features)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, features=features.astype(np.float32), mu=stats.mu, sigma=stats.sigma, index=index)
    tmp.replace(path)
    return features, stats, path


def image_shape(images: np.ndarray) -> tuple[int, int]:
    """(size, channels) of square uint8 images (N, H, W) or (N, H, W, 3)."""
    if images.shape[1] != images.shape[2]:
        raise DpldmError(f"can only match square images, got {images.shape[1]}x{images.shape[2]}")
    return images.shape[1], 1 if images.ndim == 3 else 3


def evaluate_fid(synthetic: str, *, dataset: str, split: str = "train", n: int | None = 10_000,
                 extractor: FeatureExtractor, data_root: str | None = None, k: int = 4,
                 seed: int = 0, match_synthetic: bool = False) -> dict[str, Any]:
    """FID and precision/recall (k-NN, k) of up to n images of ``synthetic`` against n of ``dataset``/``split``.

    Both sides are seeded uniform subsets (seed) when larger than n. match_synthetic converts the reference images
    to the synthetic images' size and channels first, for a model trained on converted data (e.g. 28x28 grey
    samples of a model pretrained on Tiny ImageNet against real:tiny_imagenet32:val).
    """
    start = time.perf_counter()

    # Evaluated side (a real split without conversion goes through the cache too).
    real_spec, shape = parse_real(synthetic), None
    if real_spec and not match_synthetic:
        fake, fake_stats, _ = real_features(*real_spec, n=n, seed=seed, extractor=extractor, data_root=data_root)
    else:
        fake_set: LabelledImages = load_image_set(synthetic, data_root=data_root, need_labels=False)
        shape = image_shape(fake_set.images) if match_synthetic else None
        fake = extractor.features(fake_set.images[subsample_index(len(fake_set), n, seed)])
        fake_stats = GaussianStats.of(fake)

    # Reference side (cached).
    real, real_stats, cache = real_features(dataset, split, n=n, seed=seed, extractor=extractor,
                                            data_root=data_root, shape=shape)
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
        "reference": f"{dataset}:{split}" + ("" if shape is None else f" as {shape[0]}x{shape[0]}x{shape[1]}"),
        "n_reference": int(len(real)),
        "features": extractor.name,
        "reference_cache": str(cache),
        "seconds": round(time.perf_counter() - start, 1),
        "privacy": PRIVACY_NOTE,
    }
