"""The noisy histogram of dpldm select-public against its obviously correct twin: exact counts by a loop, plus the
same generator's noise; the noise's scale; and the sensitivity the accountant is told (one record, one bin, 1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dpldm.dp.histogram import noisy_histogram
from dpldm.dp.randomness import SecretRandom, SeededRandom
from dpldm.errors import DpldmError


def loop_counts(bins, num_bins):
    counts = [0.0] * num_bins
    for b in bins:
        counts[int(b)] += 1.0
    return np.array(counts)


def test_counts_plus_the_generators_noise():
    bins = np.random.default_rng(0).integers(0, 7, size=500)
    got = noisy_histogram(bins, 7, noise_multiplier=2.5, random=SeededRandom(11))
    noise = SeededRandom(11).normal((7,), std=2.5, dtype=torch.float64, device=torch.device("cpu")).numpy()
    np.testing.assert_allclose(got, loop_counts(bins, 7) + noise, rtol=0, atol=1e-9)


def test_neighbours_differ_by_one_in_one_bin_before_noise():
    bins = np.random.default_rng(1).integers(0, 5, size=200)
    with_record = noisy_histogram(bins, 5, noise_multiplier=1.0, random=SeededRandom(3))
    without = noisy_histogram(bins[1:], 5, noise_multiplier=1.0, random=SeededRandom(3))  # record 0 removed
    diff = with_record - without
    assert np.linalg.norm(diff) == pytest.approx(1.0)  # L2 sensitivity 1, as (sigma, 1, 1) tells the accountant
    assert diff[bins[0]] == pytest.approx(1.0)


@pytest.mark.parametrize("random", [SecretRandom(), SeededRandom(5)], ids=["secret", "seeded"])
def test_noise_has_std_sigma(random):
    sigma, n = 3.0, 200_000
    got = noisy_histogram(np.zeros(0, dtype=np.int64), n, noise_multiplier=sigma, random=random)
    assert got.mean() == pytest.approx(0.0, abs=5 * sigma / np.sqrt(n))
    assert got.std() == pytest.approx(sigma, rel=0.01)


def test_secret_noise_differs_between_calls():
    bins = np.zeros(10, dtype=np.int64)
    assert not np.array_equal(noisy_histogram(bins, 4, noise_multiplier=1.0, random=SecretRandom()),
                              noisy_histogram(bins, 4, noise_multiplier=1.0, random=SecretRandom()))


@pytest.mark.parametrize("bins, sigma", [(np.array([0, 4]), 1.0), (np.array([-1]), 1.0), (np.array([0]), 0.0)])
def test_refuses_bins_out_of_range_and_no_noise(bins, sigma):
    with pytest.raises(DpldmError):
        noisy_histogram(bins, 4, noise_multiplier=sigma, random=SeededRandom(0))
