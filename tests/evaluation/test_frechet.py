"""FID formula: closed forms, symmetry, a hand-computed case, and its numerics."""

from __future__ import annotations

import numpy as np
import pytest

from dpldm.evaluation.frechet import GaussianStats, fid_from_stats, frechet_distance


def random_stats(rng: np.random.Generator, d: int) -> tuple[np.ndarray, np.ndarray]:
    a = rng.normal(size=(d, d))
    return rng.normal(size=d), a @ a.T + 0.1 * np.eye(d)


def test_identical_statistics_give_zero() -> None:
    mu, sigma = random_stats(np.random.default_rng(0), 32)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-8


@pytest.mark.parametrize("m1, s1, m2, s2", [(0.0, 1.0, 0.0, 2.0), (1.5, 0.5, -2.0, 3.0), (3.0, 2.0, 3.0, 2.0)])
def test_one_dimensional_closed_form(m1: float, s1: float, m2: float, s2: float) -> None:
    # N(m1, s1^2) vs N(m2, s2^2): (m1 - m2)^2 + (s1 - s2)^2.
    fid = frechet_distance(np.array([m1]), np.array([[s1 ** 2]]), np.array([m2]), np.array([[s2 ** 2]]))
    assert fid == pytest.approx((m1 - m2) ** 2 + (s1 - s2) ** 2, abs=1e-10)


def test_symmetric() -> None:
    rng = np.random.default_rng(1)
    (mu1, s1), (mu2, s2) = random_stats(rng, 16), random_stats(rng, 16)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(frechet_distance(mu2, s2, mu1, s1), rel=1e-9)


def test_hand_computed_two_dimensional_case() -> None:
    # S1 = diag(1, 4), S2 = diag(9, 1): sqrt(S1 S2) = diag(3, 2).
    # |mu1 - mu2|^2 = 1^2 + 2^2 = 5; tr S1 + tr S2 = 5 + 10 = 15; 2 tr sqrt = 10  ->  FID = 10.
    fid = frechet_distance(np.array([0.0, 0.0]), np.diag([1.0, 4.0]), np.array([1.0, 2.0]), np.diag([9.0, 1.0]))
    assert fid == pytest.approx(10.0, abs=1e-10)


def test_non_diagonal_against_symmetric_form() -> None:
    # tr sqrt(S1 S2) = tr sqrt(S1^1/2 S2 S1^1/2), the symmetric (slow, obviously PSD) form.
    from scipy.linalg import sqrtm

    rng = np.random.default_rng(2)
    (mu1, s1), (mu2, s2) = random_stats(rng, 8), random_stats(rng, 8)
    root = np.real(sqrtm(s1))
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2) - 2 * np.trace(np.real(sqrtm(root @ s2 @ root)))
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)


def test_singular_covariances_stay_finite() -> None:
    # Fewer samples than dimensions: rank-deficient covariances.
    rng = np.random.default_rng(3)
    a, b = GaussianStats.of(rng.normal(size=(5, 20))), GaussianStats.of(rng.normal(size=(5, 20)))
    fid = fid_from_stats(a, b)
    assert np.isfinite(fid) and fid > 0


def test_stats_of_features_match_numpy() -> None:
    features = np.random.default_rng(4).normal(size=(50, 3))
    stats = GaussianStats.of(features)
    np.testing.assert_allclose(stats.mu, features.mean(0))
    np.testing.assert_allclose(stats.sigma, np.cov(features.T))
    assert stats.n == 50


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="shape mismatch"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
