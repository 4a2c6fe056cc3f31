"""A noisy histogram: the Gaussian mechanism on counts to which every record adds 1 in exactly one bin.

Under add/remove-one neighbours, one record moves one count by 1, so the counts have L2 sensitivity 1, and
releasing ``counts + N(0, sigma^2)`` per bin is the Gaussian mechanism with noise multiplier sigma. To the
accountants it is one Poisson-sampled Gaussian step at sample rate 1: ``(sigma, 1.0, 1)``
(``dpldm.privacy.accountant.Mechanism``), which composes with DP-SGD inside one accountant.

The noise comes from a ``DPRandom`` (``dpldm.dp.randomness``): secret OS entropy with the floating-point mitigation
of the DP-SGD noise, unless a seeded generator is passed for a test. The exact counts never leave this function.
Written here rather than taken from a library because it is three lines on top of that noise source, which is what
must be right; opacus and dp-accounting have no histogram mechanism.
"""

from __future__ import annotations

import numpy as np
import torch

from dpldm.dp.randomness import DPRandom
from dpldm.errors import DpldmError


def noisy_histogram(bins: np.ndarray, num_bins: int, *, noise_multiplier: float, random: DPRandom) -> np.ndarray:
    """(num_bins,) float64: how many of ``bins`` ((N,) ints in [0, num_bins), one per record) fall in each bin,
    plus Gaussian noise of std ``noise_multiplier`` on every bin."""
    bins = np.asarray(bins)
    if bins.ndim != 1 or (len(bins) and (bins.min() < 0 or bins.max() >= num_bins)):
        raise DpldmError(f"a histogram needs one bin in [0, {num_bins}) per record, got shape {bins.shape}")
    if not noise_multiplier > 0:
        raise DpldmError(f"noise_multiplier must be positive, got {noise_multiplier}")
    counts = np.bincount(bins.astype(np.int64), minlength=num_bins).astype(np.float64)  # exact: private
    noise = random.normal((num_bins,), std=float(noise_multiplier), dtype=torch.float64, device=torch.device("cpu"))
    return counts + noise.numpy()
