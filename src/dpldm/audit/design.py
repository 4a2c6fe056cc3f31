"""Who is a member: the audit's public coins, and the canaries inserted into the private set.

The auditor draws, from one public ``seed`` and before any training:
- for every record of the private pool a fair coin: heads -> trained on (member), tails -> held out (non-member);
- ``n_canaries`` canaries, made from records taken out of the pool, each with its own fair coin;
- for every canary a second coin: heads -> the canary is used only to choose the attack's threshold, tails -> it
  counts in the epsilon bound (``dpldm.audit.bounds.audit_epsilon``).
Independent fair coins are the one-run audit game (Steinke, Nasr, Jagielski 2023): the model sees one draw of the
membership vector, and each canary is one guess.

Canaries are outliers, so that a model that memorises shows it on them first (Jagielski et al. 2020 use outliers
for the same reason):
- ``inverted``: the record's image with its pixels inverted (255 - x), keeping its label: a white background and
  dark strokes, unlike any record of a digit or character set;
- ``noise``: uniform random pixels of the record's shape with a uniformly random label: nothing to share with the
  records or with each other, so only memorisation lowers a canary's loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from dpldm.data.images import LabelledImages
from dpldm.errors import DpldmError

CanaryKind = Literal["inverted", "noise"]
CANARY_KINDS = ("inverted", "noise")


@dataclass(frozen=True)
class AuditDesign:
    """The audit's candidates (pool records, then canaries) and the public coins drawn for them."""

    images: np.ndarray  # (n, H, W) or (n, H, W, 3) uint8: every candidate, members and non-members
    labels: np.ndarray  # (n,) int64
    canary: np.ndarray  # (n,) bool: a canary (else a pool record)
    member: np.ndarray  # (n,) bool: in the fine-tuning set
    select: np.ndarray  # (n,) bool: a canary used only to choose the attack's threshold

    def members(self) -> tuple[np.ndarray, np.ndarray]:
        """The fine-tuning set: (images, labels) of the members, in candidate order."""
        return self.images[self.member], self.labels[self.member]


def make_canaries(images: np.ndarray, labels: np.ndarray, *, kind: CanaryKind, num_classes: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Canaries from the records ``images`` (uint8) / ``labels``: one per record, see the module docstring."""
    if kind == "inverted":
        return 255 - images, labels.copy()
    if kind == "noise":
        noise = rng.integers(0, 256, size=images.shape, dtype=np.uint8)
        return noise, rng.integers(0, num_classes, size=len(labels)).astype(np.int64)
    raise DpldmError(f"canary kind must be one of {', '.join(CANARY_KINDS)}, got {kind!r}")


def design_audit(pool: LabelledImages, *, n_canaries: int, kind: CanaryKind, seed: int) -> AuditDesign:
    """Draw the audit's coins and canaries for the private ``pool`` from the public ``seed`` (see module doc)."""
    n = len(pool.labels)
    if n_canaries < 4 or n_canaries > n // 2:
        raise DpldmError(f"need 4 <= n_canaries <= half the private set ({n // 2}), got {n_canaries}")
    rng = np.random.default_rng(seed)
    # Take the canaries' source records out of the pool.
    order = rng.permutation(n)
    source, records = np.sort(order[:n_canaries]), np.sort(order[n_canaries:])
    canary_images, canary_labels = make_canaries(pool.images[source], pool.labels[source].astype(np.int64),
                                                 kind=kind, num_classes=len(pool.class_names), rng=rng)
    images = np.concatenate([pool.images[records], canary_images])
    labels = np.concatenate([pool.labels[records].astype(np.int64), canary_labels])
    canary = np.arange(len(labels)) >= len(records)
    # Public coins: membership for all, threshold selection for the canaries.
    member = rng.random(len(labels)) < 0.5
    select = canary & (rng.random(len(labels)) < 0.5)
    for part, name in ((select, "threshold-selection"), (canary & ~select, "evaluated")):
        if not (part & member).any() or not (part & ~member).any():
            raise DpldmError(f"the coins of seed {seed} left the {name} canaries without a member or a non-member; "
                             f"use more canaries (now {n_canaries}) or another audit seed")
    return AuditDesign(images=images, labels=labels, canary=canary, member=member, select=select)
