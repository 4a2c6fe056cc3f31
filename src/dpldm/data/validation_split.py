"""The private validation split: which records of a private train set fine-tuning holds out for evaluation.

It sits in ``data`` because two parts use it and neither may import the other: the fine-tuning stage excludes the
held-out records from the generator's data, and evaluation (``dpldm.evaluation.selection``) scores candidates on
exactly those records. A model records the split's rule and key (``split_facts``) in its model.json.
"""

from __future__ import annotations

import hashlib

import numpy as np

from dpldm.errors import DpldmError

VALIDATION_SIZE = 5_000  # of 60,000 (DPImageBench); smaller sets keep the same fraction
VALIDATION_FRACTION = VALIDATION_SIZE / 60_000  # ~8.3%
SPLIT_SCHEME = "blake2b-record-hash/1"  # private_validation_split's rule; a model records it with its key


def validation_size(n: int) -> int:
    """5,000 for 60,000 images, the same ~8.3% for other sizes, at least 1 (for n >= 2)."""
    if n < 2:
        raise ValueError(f"need at least 2 private images to hold out a validation split, got {n}")
    return max(1, min(n - 1, round(n * VALIDATION_FRACTION)))


def private_validation_split(images: np.ndarray, labels: np.ndarray,
                             seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split the private train set's records -> (train_index, validation_index), both sorted int64.

    A record (image, label) goes to validation when a keyed hash of its own bytes (BLAKE2b, key = seed) falls in
    the lowest VALIDATION_FRACTION of the hash range, so about 8.3% of the records are held out. Membership depends
    on the record alone: adding or removing one record moves no other record between the parts. That is what lets
    the generator's guarantee (on the train part) and the selection's (on the validation part) compose in
    parallel; a permutation of range(n) would not do, since one record more reshuffles every other one.
    The fine-tuning stage must exclude ``validation_index`` from the generator's data.
    """
    if len(images) != len(labels):
        raise DpldmError(f"{len(images)} images but {len(labels)} labels")
    key = seed.to_bytes(8, "little", signed=True)
    threshold = VALIDATION_FRACTION * 2.0 ** 64
    in_validation = np.array([
        int.from_bytes(hashlib.blake2b(np.ascontiguousarray(image).tobytes() + int(label).to_bytes(8, "little"),
                                       digest_size=8, key=key).digest(), "little") < threshold
        for image, label in zip(images, labels)], dtype=bool)
    if len(images) and not in_validation.any():
        raise DpldmError(f"no record of the {len(images)} fell into the private validation split; it needs more "
                         f"private images (about 8.3% are held out)")
    return np.flatnonzero(~in_validation).astype(np.int64), np.flatnonzero(in_validation).astype(np.int64)


def split_facts(key: int) -> dict[str, object]:
    """What a model records (model.json ``validation_split``) about the split its fine-tuning held out."""
    return {"scheme": SPLIT_SCHEME, "key": key, "fraction": VALIDATION_FRACTION}
