"""Choosing what to report without the test set, and the privacy cost of doing so.

DP-respecting protocol (DPImageBench): a validation split of the PRIVATE train set is held out of the generator's
training. Every classifier is trained with every seed, and after every epoch each one is scored on that split. The
candidates k = (classifier, seed, epoch) of all runs enter ONE selection:

    k* = argmax_k ( c_k + Z_k ),   c_k = correct-count on the validation split,   Z_k ~ Laplace(scale 1/epsilon)

Under add/remove neighbouring, one validation record moves every c_k by 0 or +1 together (sensitivity 1,
monotone), so releasing k* is epsilon-DP (report noisy max, Dwork & Roth 2014, Claim 3.9), however many candidates
there are. One selection per run would be k releases composed, k * epsilon; there is one. The classifiers depend on
the synthetic set only (post-processing of the generator); the validation records are disjoint from the generator's
training records, so the two guarantees compose in parallel: the whole release is max(eps_generator, epsilon)-DP.
The counts c_k never leave the process: only k* and the test accuracy at k* are released.

The noise Z comes from secret OS entropy (``selection_rng(None)``), fresh for each evaluation and never written
anywhere. An explicit ``selection_seed`` makes it reproducible, which is for tests only: whoever knows the seed knows
the noise, so the release is then not private against them, and the statement says so.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass

import numpy as np


def selection_rng(selection_seed: int | None) -> np.random.Generator:
    """The generator of the selection noise: 128 bits of secret OS entropy (``secrets``) when ``selection_seed`` is
    None, the default; else seeded, which is reproducible and NOT private against whoever knows the seed."""
    return np.random.default_rng(secrets.randbits(128) if selection_seed is None else selection_seed)


def laplace_noise(count: int, *, epsilon: float, rng: np.random.Generator) -> np.ndarray:
    """(count,) draws of Laplace(0, 1/epsilon); zeros when epsilon is inf (no noise, not private)."""
    if math.isinf(epsilon):
        return np.zeros(count)
    return rng.laplace(0.0, 1.0 / epsilon, size=count)


def noisy_argmax(correct: np.ndarray, *, epsilon: float, rng: np.random.Generator) -> int:
    """Report noisy max: index of max(correct + Laplace(1/epsilon)); correct: (K,) counts."""
    correct = np.asarray(correct, dtype=np.float64)
    return int(np.argmax(correct + laplace_noise(len(correct), epsilon=epsilon, rng=rng)))


def select_candidate(correct: list[np.ndarray], *, epsilon: float, rng: np.random.Generator) -> tuple[int, int]:
    """One report-noisy-max over every (run, epoch): correct[r] is run r's (E_r,) counts -> (run r*, epoch e*).

    All candidates enter one selection, so its cost is epsilon however many runs and epochs there are.
    """
    flat = np.concatenate([np.asarray(c, dtype=np.float64) for c in correct])  # (sum_r E_r,)
    k = noisy_argmax(flat, epsilon=epsilon, rng=rng)
    run = int(np.searchsorted(np.cumsum([len(c) for c in correct]), k, side="right"))
    return run, k - sum(len(c) for c in correct[:run])


@dataclass(frozen=True)
class SelectionPolicy:
    """How the reported (classifier, seed, epoch) is chosen; ``statement`` says what it costs in privacy."""

    kind: str  # "private-val" or "synthetic-val"
    epsilon: float  # budget of the private-val selection; unused for synthetic-val
    validation_size: int  # images the candidates are scored on
    candidates: int  # (classifier, seed, epoch) triples in the one selection
    split_key: int | None = None  # key of the private validation split (private-val)
    selection_seed: int | None = None  # None: noise from secret OS entropy; an int: reproducible, NOT private

    @property
    def statement(self) -> str:
        what = f"one (classifier, seed, epoch) of {self.candidates} candidates chosen"
        if self.kind == "synthetic-val":
            return (f"{what} by accuracy on {self.validation_size} held-out images of the training set: reads nothing "
                    f"else, no privacy cost beyond the training set's")
        if math.isinf(self.epsilon):
            return (f"{what} by the noise-free argmax of correct-counts on {self.validation_size} private validation "
                    f"images: NOT differentially private (epsilon = inf)")
        claim = (f"{what} by one report-noisy-max on {self.validation_size} private validation images (split key "
                 f"{self.split_key}; Laplace scale 1/epsilon = {1 / self.epsilon:g} on correct-counts")
        if self.selection_seed is not None:
            return (f"{claim}, drawn from selection_seed={self.selection_seed}): NOT differentially private against "
                    f"anyone who knows that seed (reproducible test mode)")
        return (f"{claim}, drawn from secret OS entropy): {self.epsilon:g}-DP on that split, which is disjoint from "
                f"the generator's training data; by parallel composition the whole release is "
                f"max(eps_generator, {self.epsilon:g})-DP")

    def state_dict(self) -> dict[str, object]:
        epsilon = self.epsilon if math.isfinite(self.epsilon) else "inf"  # JSON has no infinity
        private = self.kind == "private-val"
        noise = ("none" if not private or math.isinf(self.epsilon) else
                 "secret OS entropy" if self.selection_seed is None else
                 f"selection_seed={self.selection_seed} (reproducible, NOT private)")
        return {"kind": self.kind, "epsilon": epsilon, "validation_size": self.validation_size,
                "candidates": self.candidates, "split_key": self.split_key if private else None,
                "noise": noise, "seeded": self.selection_seed is not None and noise != "none",
                "mechanism": "one report-noisy-max over all candidates, Laplace(1/epsilon) on correct-counts"
                if private else "argmax on held-out images of the training set",
                "neighbouring": "add/remove one private record", "statement": self.statement}
