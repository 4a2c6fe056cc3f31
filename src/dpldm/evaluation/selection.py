"""Choosing the classifier's epoch without the test set, and the privacy cost of doing so.

DP-respecting protocol (DPImageBench): a validation split of the PRIVATE train set is held out of the generator's
training; after every epoch the classifier is scored on it, and the epoch

    e* = argmax_e ( c_e + Z_e ),   c_e = correct-count on the validation split,   Z_e ~ Laplace(scale 1/epsilon)

is kept. Under add/remove neighbouring, one validation record moves every c_e by 0 or +1 together (sensitivity 1,
monotone), so releasing e* is epsilon-DP (report noisy max, Dwork & Roth 2014, Claim 3.9). The classifiers depend on
the synthetic set only (post-processing of the generator); the validation records are disjoint from the generator's
training records, so the two guarantees compose in parallel: the whole release is max(eps_generator, epsilon)-DP.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from dpldm.errors import DpldmError

VALIDATION_SIZE = 5_000  # of 60,000 (DPImageBench); smaller sets keep the same fraction
VALIDATION_FRACTION = VALIDATION_SIZE / 60_000  # ~8.3%


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


def laplace_noise(count: int, *, epsilon: float, rng: np.random.Generator) -> np.ndarray:
    """(count,) draws of Laplace(0, 1/epsilon); zeros when epsilon is inf (no noise, not private)."""
    if math.isinf(epsilon):
        return np.zeros(count)
    return rng.laplace(0.0, 1.0 / epsilon, size=count)


def noisy_argmax(correct: np.ndarray, *, epsilon: float, rng: np.random.Generator) -> int:
    """Report noisy max: index of max(correct + Laplace(1/epsilon)); correct: (E,) counts."""
    correct = np.asarray(correct, dtype=np.float64)
    return int(np.argmax(correct + laplace_noise(len(correct), epsilon=epsilon, rng=rng)))


@dataclass(frozen=True)
class SelectionPolicy:
    """How the epoch is chosen; ``statement`` says what it costs in privacy."""

    kind: str  # "private-val" or "synthetic-val"
    epsilon: float  # budget of the private-val selection; unused for synthetic-val
    validation_size: int  # images the epoch is chosen on

    @property
    def statement(self) -> str:
        if self.kind == "synthetic-val":
            return (f"epoch chosen by accuracy on {self.validation_size} held-out synthetic images: no private data "
                    f"read, no privacy cost beyond the generator's")
        if math.isinf(self.epsilon):
            return (f"epoch chosen by the noise-free argmax of correct-counts on {self.validation_size} private "
                    f"validation images: NOT differentially private (epsilon = inf)")
        return (f"epoch chosen by report-noisy-max on {self.validation_size} private validation images "
                f"(Laplace scale 1/epsilon = {1 / self.epsilon:g} on correct-counts): {self.epsilon:g}-DP on that "
                f"split, which is disjoint from the generator's training data; by parallel composition the whole "
                f"release is max(eps_generator, {self.epsilon:g})-DP")

    def state_dict(self) -> dict[str, object]:
        epsilon = self.epsilon if math.isfinite(self.epsilon) else "inf"  # JSON has no infinity
        return {"kind": self.kind, "epsilon": epsilon, "validation_size": self.validation_size,
                "mechanism": "report-noisy-max, Laplace(1/epsilon) on correct-counts" if self.kind == "private-val"
                else "argmax on held-out synthetic images",
                "neighbouring": "add/remove one private record", "statement": self.statement}
