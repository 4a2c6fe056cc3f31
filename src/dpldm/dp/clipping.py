"""Flat per-example clipping: each example's gradient, over all trainable parameters at once, scaled to norm <= C."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

# Added to the norm before dividing, as opacus does: factor = min(1, C / (norm + 1e-6)).
NORM_EPS = 1e-6


def per_example_norms(grads: Sequence[Tensor]) -> Tensor:
    """L2 norm of each example's gradient over the concatenation of all parameters.

    grads: one tensor per parameter, [b, *param.shape]. returns: [b].
    """
    per_param = torch.stack([g.reshape(len(g), -1).norm(dim=1) for g in grads], dim=1)  # [b, n_params]
    return per_param.norm(dim=1)


def clip_factors(norms: Tensor, *, max_grad_norm: float) -> Tensor:
    """min(1, C / (norm + 1e-6)) per example: [b] -> [b]. Examples under C keep factor 1 (unchanged)."""
    return (max_grad_norm / (norms + NORM_EPS)).clamp(max=1.0)


def accumulate_clipped(sums: Sequence[Tensor], grads: Sequence[Tensor], *, max_grad_norm: float) -> None:
    """sums[j] += sum_i clip_i * grads[j][i], with one clip factor per example shared by all parameters.

    sums: one tensor per parameter, [*param.shape], updated in place. grads: [b, *param.shape] each.
    """
    factors = clip_factors(per_example_norms(grads), max_grad_norm=max_grad_norm)  # [b]
    for total, grad in zip(sums, grads, strict=True):
        total.add_(torch.einsum("b,b...->...", factors.to(grad.dtype), grad))
