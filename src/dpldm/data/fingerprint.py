"""Content fingerprints of image sets, so a private set can be checked against a public model's training data
without that data at hand.

DP-LDM's guarantee covers the private set only if no private image was also trained on without DP: an image in
both sets is exposed through the public model, whatever epsilon the fine-tuning states. A public model is often
trained elsewhere, so each public stage stores the fingerprint of what it trained on beside its weights, and the
private stage refuses a private set with any image in it.

A fingerprint is the sorted set of 64-bit hashes (the first 8 bytes of BLAKE2b) of each image's shape and raw
uint8 pixels, as loaded by ``load_images``: 8 bytes an image (100,000 images -> 800 KB). With 64 bits, the chance
that two different images collide between a 100,000-image public set and a 100,000-image private one is about
1e10 / 2**64 < 1e-9. The hashes are of public data, so the fingerprint is releasable.

Why the raw pixels, not the images after ``prepare`` (resize, grey, fit): the case that matters is the same
dataset, or overlapping splits of it (omniglot 'all' and 'background', say), on both sides. Their records are
byte-identical as loaded whatever each stage's ``image_size``, ``channels`` or ``fit``, whereas hashes taken after
``prepare`` differ as soon as the private config fits the images differently (crop against resize) from the public
one. An exact hash does not find near-duplicates (a re-encoded or resized copy of a public image); nothing here
claims to. For datasets stored as JPEG the pixels are those Pillow's decoder gives, the same across machines as long
as its libjpeg decodes the same (Pillow's wheels bundle libjpeg-turbo, whose default decoder is exact integer
arithmetic).
"""

from __future__ import annotations

import hashlib

import numpy as np

HASH_BYTES = 8  # per image: collisions between sets of 1e5 images are below 1e-9 (see above)


def image_hashes(images: np.ndarray) -> np.ndarray:
    """One uint64 per image of ``images`` (uint8, (N, H, W) or (N, H, W, 3)), in order: BLAKE2b of the image's
    shape and raw bytes, first ``HASH_BYTES`` bytes."""
    shape = str(images.shape[1:]).encode()
    digests = b"".join(hashlib.blake2b(shape + image.tobytes(), digest_size=HASH_BYTES).digest() for image in images)
    return np.frombuffer(digests, dtype="<u8").astype(np.uint64)


def fingerprint(*image_sets: np.ndarray) -> np.ndarray:
    """The sorted, distinct hashes of every image of ``image_sets`` (sets of different shapes allowed)."""
    parts = [image_hashes(images) for images in image_sets]
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint64)


def merge(*fingerprints: np.ndarray) -> np.ndarray:
    """The fingerprint of the union of the sets ``fingerprints`` were taken of."""
    return np.unique(np.concatenate([np.asarray(f, dtype=np.uint64) for f in fingerprints]))


def count_in(images: np.ndarray, public: np.ndarray) -> int:
    """How many images of ``images`` (each occurrence counted) are in the set fingerprinted by ``public``."""
    return int(np.isin(image_hashes(images), public, assume_unique=False).sum())
