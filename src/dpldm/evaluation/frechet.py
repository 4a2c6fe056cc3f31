"""Frechet distance between Gaussians fitted to features (FID, Heusel et al. 2017).

    FID = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))

Numerics, as the reference implementations (TTUR's fid.py, pytorch-fid) handle them: ``scipy.linalg.sqrtm`` of the
non-symmetric product S1 S2; if that is not finite (near-singular covariances, e.g. fewer samples than dimensions),
retry with ``eps * I`` added to both covariances; the exact root is real with non-negative eigenvalues, so a complex
result is rounding: its imaginary part is dropped when the diagonal's is below ``imag_atol``, else it is an error.
The result is not clamped: identical statistics give 0 up to rounding (|FID| ~ 1e-10).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg


@dataclass(frozen=True)
class GaussianStats:
    """mu: float64 (D,); sigma: float64 (D, D), the unbiased covariance (np.cov, rowvar=False); n: sample count."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int

    @classmethod
    def of(cls, features: np.ndarray) -> "GaussianStats":
        """features: (N, D) with N >= 2."""
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or len(features) < 2:
            raise ValueError(f"need (N >= 2, D) features, got shape {features.shape}")
        return cls(features.mean(axis=0), np.cov(features, rowvar=False).reshape(features.shape[1], -1),
                   len(features))


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, *,
                     eps: float = 1e-6, imag_atol: float = 1e-3) -> float:
    """FID of N(mu1, sigma1) and N(mu2, sigma2); mu: (D,), sigma: (D, D)."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (len(mu1), len(mu1)):
        raise ValueError(f"shape mismatch: mu {mu1.shape} / {mu2.shape}, sigma {sigma1.shape} / {sigma2.shape}")
    diff = mu1 - mu2

    # Square root of the product; retry with a ridge if it is singular.
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(mu1)) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))

    # Drop the rounding-level imaginary part.
    if np.iscomplexobj(covmean):
        imag = np.abs(np.diagonal(covmean).imag).max()
        if imag > imag_atol:
            raise ValueError(f"sqrtm(sigma1 @ sigma2) has an imaginary component {imag:.3g} > {imag_atol}")
        covmean = covmean.real

    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def fid_from_stats(a: GaussianStats, b: GaussianStats) -> float:
    return frechet_distance(a.mu, a.sigma, b.mu, b.sigma)
