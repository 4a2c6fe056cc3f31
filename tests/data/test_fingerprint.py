"""Content fingerprints: the vectorised hashes against a per-image loop, overlap counts, and the case that matters
(the same dataset on both sides, however each side fits it to the model)."""

from __future__ import annotations

import hashlib

import numpy as np

from dpldm.data import DataConfig, load_images
from dpldm.data.fingerprint import HASH_BYTES, count_in, fingerprint, image_hashes, merge

from .files import random_images


def slow_hashes(images: np.ndarray) -> list[int]:
    """Obviously correct: one BLAKE2b per image, read as a little-endian integer."""
    prefix = str(images.shape[1:]).encode()
    return [int.from_bytes(hashlib.blake2b(prefix + bytes(image.ravel()), digest_size=HASH_BYTES).digest(), "little")
            for image in images]


def test_hashes_match_a_per_image_loop():
    for images in (random_images(20, 8, 8, seed=0), random_images(5, 6, 4, seed=1, channels=3)):
        fast = image_hashes(images)
        assert fast.dtype == np.uint64 and fast.tolist() == slow_hashes(images)
    grey = random_images(3, 8, 8)
    assert fingerprint(grey, grey[:2]).tolist() == sorted(set(slow_hashes(grey)))


def test_the_same_pixels_in_another_shape_hash_apart():
    images = random_images(4, 8, 8)
    assert not set(image_hashes(images).tolist()) & set(image_hashes(images.reshape(4, 4, 16)).tolist())


def test_count_in_counts_every_private_occurrence():
    public, other = random_images(30, 8, 8, seed=2), random_images(10, 8, 8, seed=3)
    private = np.concatenate([other, public[[4, 7, 7]]])  # two distinct public images, one of them twice
    assert count_in(private, fingerprint(public)) == 3
    assert count_in(other, fingerprint(public)) == 0
    assert count_in(private, merge(fingerprint(public[:5]), fingerprint(public[5:]))) == 3


def test_a_dataset_fitted_differently_on_each_side_is_still_found():
    # The public stage resizes digits to 16px grey; the private one pads them to 28px: the same records either way.
    public = load_images(DataConfig(name="digits", split="all", image_size=16, fit="resize"))
    private = load_images(DataConfig(name="digits", split="train", image_size=28, fit="pad", limit=100, seed=3))
    assert count_in(private.images, fingerprint(public.images)) == 100
    # digits' train and test splits are disjoint, by content too.
    train, test = (load_images(DataConfig(name="digits", split=split)) for split in ("train", "test"))
    assert count_in(test.images, fingerprint(train.images)) == 0
    assert not set(slow_hashes(test.images)) & set(slow_hashes(train.images))
