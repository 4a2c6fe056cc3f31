"""One change to opacus's hooks, in our backward passes only: per-example gradients stored without a zero-filled copy.

Why by hand: opacus 1.6.0 (``grad_sample_module.create_or_accumulate_grad_sample``) allocates a zero tensor of
shape [batch, *param.shape] for every trainable parameter on every backward pass, then copies the per-example
gradients into it; that zero fill and copy cost about 8% of a DP step of the attention blocks here (torch
profiler: ``aten::fill_`` and ``aten::copy_`` on the [128, 512, 64] grad samples). The padding it allows is for
packed sequences, which this project never uses: when the per-example gradients already span the whole batch,
they are stored as they are. Values are identical in every case (tested against opacus's own function, and the
DP tests compare the per-example gradients with single-example backward passes).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

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


@contextlib.contextmanager
def in_place() -> Iterator[None]:
    """The function above in place of opacus's for the duration of the block (our backward passes), and opacus's
    own everywhere else: other users of opacus in the same process never see the change. Not thread-safe: two
    threads running backward passes through opacus at once would see each other's swap."""
    from opacus.grad_sample import grad_sample_module

    current = getattr(grad_sample_module, "create_or_accumulate_grad_sample", None)
    if current is None:  # another opacus: leave it as it is
        yield
        return
    grad_sample_module.create_or_accumulate_grad_sample = create_or_accumulate_grad_sample
    try:
        yield
    finally:
        grad_sample_module.create_or_accumulate_grad_sample = current


def original():
    """opacus's own function (for the tests' comparison)."""
    from opacus.grad_sample import grad_sample_module

    return grad_sample_module.create_or_accumulate_grad_sample
