"""The fast per-example gradient store gives exactly what opacus's own function gives, in each of its cases."""

from __future__ import annotations

import torch

from dpldm.dp import opacus_fastpath
from dpldm.dp.opacus_fastpath import create_or_accumulate_grad_sample, original


def stored(fn, calls: list[tuple[torch.Tensor, int]]) -> torch.Tensor:
    param = torch.nn.Parameter(torch.zeros(3, 2))
    for grad_sample, max_batch_len in calls:
        fn(param=param, grad_sample=grad_sample.clone(), max_batch_len=max_batch_len)
    return param._current_grad_sample


def test_in_place_only_inside_our_block_and_equal_to_opacus_in_every_case():
    from opacus.grad_sample import grad_sample_module

    opacus_fn = original()
    assert opacus_fn is not create_or_accumulate_grad_sample  # opacus's own, outside our backward passes
    with opacus_fastpath.in_place():
        assert grad_sample_module.create_or_accumulate_grad_sample is create_or_accumulate_grad_sample
    assert grad_sample_module.create_or_accumulate_grad_sample is opacus_fn
    g = torch.randn(4, 3, 2, dtype=torch.float64)
    h = torch.randn(4, 3, 2, dtype=torch.float64)
    cases = {"whole batch": [(g, 4)], "padded": [(g[:3], 4)], "used twice": [(g, 4), (h, 4)],
             "used twice, padded": [(g[:2], 4), (h[:3], 4)]}
    for name, calls in cases.items():
        torch.testing.assert_close(stored(create_or_accumulate_grad_sample, calls), stored(opacus_fn, calls),
                                   rtol=0, atol=0, msg=name)


def test_accumulating_never_writes_into_the_first_grad_sample():
    param = torch.nn.Parameter(torch.zeros(2))
    first, second = torch.ones(3, 2), torch.full((3, 2), 2.0)
    create_or_accumulate_grad_sample(param=param, grad_sample=first, max_batch_len=3)
    create_or_accumulate_grad_sample(param=param, grad_sample=second, max_batch_len=3)
    assert torch.equal(first, torch.ones(3, 2)) and torch.equal(param._current_grad_sample, torch.full((3, 2), 3.0))


def test_frozen_parameters_get_nothing():
    param = torch.nn.Parameter(torch.zeros(2), requires_grad=False)
    create_or_accumulate_grad_sample(param=param, grad_sample=torch.ones(3, 2), max_batch_len=3)
    assert not hasattr(param, "_current_grad_sample")
