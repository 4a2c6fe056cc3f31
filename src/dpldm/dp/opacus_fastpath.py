"""One change to opacus's hooks: store each layer's per-example gradients without a zero-filled copy.

Why by hand: opacus 1.6.0 (``grad_sample_module.create_or_accumulate_grad_sample``) allocates a zero tensor of
shape [batch, *param.shape] for every trainable parameter on every backward pass, then copies the per-example
gradients into it; that zero fill and copy cost about 8% of a DP step of the attention blocks here (torch
profiler: ``aten::fill_`` and ``aten::copy_`` on the [128, 512, 64] grad samples). The padding it allows is for
packed sequences, which this project never uses: when the per-example gradients already span the whole batch,
they are stored as they are. Values are identical in every case (tested against opacus's own function, and the
DP tests compare the per-example gradients with single-example backward passes).
"""

from __future__ import annotations

import torch

_ORIGINAL = None


def create_or_accumulate_grad_sample(*, param: torch.Tensor, grad_sample: torch.Tensor, max_batch_len: int) -> None:
    """Same contract and values as opacus's function of the same name."""
    if not param.requires_grad:
        return
    if hasattr(param, "_current_grad_sample"):
        # A parameter used twice in one forward: add into a fresh tensor, never into one a grad sampler returned
        # (it may be autograd's own gradient buffer).
        total = param._current_grad_sample.clone()
        total[: grad_sample.shape[0]] += grad_sample
        param._current_grad_sample = total
    elif grad_sample.shape[0] == max_batch_len:
        param._current_grad_sample = grad_sample
    else:  # padded to max_batch_len, as opacus does
        padded = grad_sample.new_zeros(torch.Size([max_batch_len]) + grad_sample.shape[1:])
        padded[: grad_sample.shape[0]] = grad_sample
        param._current_grad_sample = padded


def install() -> bool:
    """Put the function above in place of opacus's; returns False (and changes nothing) if opacus lacks it."""
    global _ORIGINAL
    from opacus.grad_sample import grad_sample_module

    current = getattr(grad_sample_module, "create_or_accumulate_grad_sample", None)
    if current is None:
        return False
    if current is not create_or_accumulate_grad_sample:
        _ORIGINAL = current
        grad_sample_module.create_or_accumulate_grad_sample = create_or_accumulate_grad_sample
    return True


def original():
    """opacus's own function (for the tests' comparison)."""
    install()
    return _ORIGINAL
