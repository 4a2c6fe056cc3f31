"""The feature-extractor interface FID and precision/recall are computed on, and a cache folder for what they need."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class FeatureExtractor(Protocol):
    """Maps uint8 images to feature vectors.

    name: identifies the feature space (two extractors with the same name give the same features up to float
        noise, so cached reference statistics are shared between them, e.g. the ONNX and TorchScript Inception).
    dim: D, the feature dimension.
    """

    name: str
    dim: int

    def features(self, images: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W) or (N, H, W, 3) -> float64 (N, D)."""
        ...


def cache_dir() -> Path:
    """$DPLDM_CACHE, else ~/.cache/dpldm; created on first use."""
    folder = Path(os.environ.get("DPLDM_CACHE") or Path.home() / ".cache" / "dpldm")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def batched_features(extract, images: np.ndarray, batch_size: int, progress: bool = False) -> np.ndarray:
    """Run ``extract`` (a function of a uint8 batch -> (B, D)) over ``images`` in batches -> float64 (N, D)."""
    from tqdm import tqdm

    starts = range(0, len(images), batch_size)
    chunks = [np.asarray(extract(images[i:i + batch_size]), dtype=np.float64)
              for i in tqdm(starts, desc="features", unit="batch", disable=not progress)]
    return np.concatenate(chunks) if chunks else np.zeros((0, 0))
