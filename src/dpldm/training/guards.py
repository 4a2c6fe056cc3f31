"""Stop a training run as soon as its weights stop being numbers.

A learning rate that is finite but far too large, or an update that overflows, turns weights into NaN or inf; a
run that carries on exports a model that samples black images. ``non_finite`` looks only at the weights after an
update (for DP fine-tuning: a function of the noisy, released update, never of a private loss), and costs one
reduction per tensor. Use::

    if non_finite(params):
        raise non_finite_error(step, "lower train.lr")

"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from dpldm.errors import DpldmError


def non_finite(params: Iterable[torch.Tensor]) -> bool:
    """True when any element of ``params`` is NaN or infinite."""
    with torch.no_grad():
        return not all(bool(torch.isfinite(p).all()) for p in params)


def non_finite_error(step: int, hint: str, what: str = "a trained weight") -> DpldmError:
    """The one-line error of a run whose weights became NaN or infinite at logical ``step``; ``hint`` says what
    to change. The caller must not have checkpointed this step, so the last checkpoint stays a finite state."""
    return DpldmError(f"training stopped at step {step}: {what} became NaN or infinite "
                      f"(nothing from this step was saved); {hint}")
