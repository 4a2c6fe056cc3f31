"""PrivateGradient against slow, obviously correct twins: single-example backward passes on an unhooked copy."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import Tensor, nn

from dp_testkit import RecordingLoss, data_noise_loss, make_data, make_model, row_loss, trainable
from dpldm.dp.batch import select_rows
from dpldm.dp.clipping import accumulate_clipped
from dpldm.dp.gradient import PrivateGradient
from dpldm.dp.randomness import SeededRandom
from dpldm.errors import DpldmError

CPU = torch.device("cpu")


def single_example_grad(model: nn.Module, example: dict[str, Tensor], noise: Tensor) -> list[Tensor]:
    """Gradient of one example's loss (one row), by plain autograd."""
    model.zero_grad(set_to_none=True)
    row_loss(model, {k: v[None] for k, v in example.items()}, noise[None]).sum().backward()
    return [p.grad.clone() for _, p in trainable(model)]


def make_gradient(model: nn.Module, loss_fn, **overrides) -> PrivateGradient:
    options = dict(max_grad_norm=1.0, noise_multiplier=0.0, expected_batch_size=8, noise_multiplicity=1,
                   max_physical_batch=64)
    options.update(overrides)
    return PrivateGradient(model, loss_fn, **options)


@pytest.mark.parametrize("k", [1, 3])
def test_per_example_gradients_equal_mean_of_single_example_passes(k):
    model = make_model()
    twin = copy.deepcopy(model)
    data = make_data(n=5)
    loss = RecordingLoss()
    grads = make_gradient(model, loss, noise_multiplicity=k).per_example(data, torch.Generator().manual_seed(3))
    (rows, draws), = loss.calls
    assert len(draws) == 5 * k
    for i in range(5):
        # Rows i*K .. i*K+K-1 are example i; the twin replays exactly those (t, noise) draws, one pass each.
        example = {key: value[i] for key, value in data.items()}
        for j in range(k):
            assert all(torch.equal(rows[key][i * k + j], example[key]) for key in data)
        expected = [torch.stack(g).mean(0) for g in zip(*(
            single_example_grad(twin, example, draws[i * k + j]) for j in range(k)))]
        for got, want in zip(grads, expected, strict=True):
            torch.testing.assert_close(got[i], want, rtol=1e-10, atol=1e-12)


def test_only_trainable_parameters_get_per_example_gradients():
    model = make_model()
    gradient = make_gradient(model, data_noise_loss)
    names = [name for name, _ in gradient.named_params]
    assert names == [name for name, _ in trainable(model)]
    assert not any(name.startswith("frozen") for name in names)
    grads = gradient.per_example(make_data(n=3), torch.Generator())
    assert [g.shape for g in grads] == [(3, *p.shape) for _, p in trainable(model)]
    assert all(p.grad is None for p in model.parameters())


def clipped_sum_twin(grads: list[Tensor], max_grad_norm: float) -> list[Tensor]:
    """Loop over examples: flatten, take the norm, scale by min(1, C / (norm + 1e-6)), add up."""
    sums = [torch.zeros_like(g[0]) for g in grads]
    for i in range(len(grads[0])):
        norm = torch.cat([g[i].flatten() for g in grads]).norm()
        factor = min(1.0, max_grad_norm / (norm.item() + 1e-6))
        for total, g in zip(sums, grads):
            total += factor * g[i]
    return sums


def random_grads(b: int, scales: Tensor) -> list[Tensor]:
    g = torch.Generator().manual_seed(0)
    shapes = [(3, 4), (4,), (2, 2, 3)]
    grads = [torch.randn(b, *s, generator=g, dtype=torch.float64) for s in shapes]
    norms = torch.cat([x.reshape(b, -1) for x in grads], dim=1).norm(dim=1)
    return [x * (scales / norms).reshape(-1, *[1] * (x.dim() - 1)) for x in grads]


def test_clipping_matches_loop_and_bounds_each_example():
    c = 1.0
    scales = torch.tensor([0.1, 0.5, 0.999, 1.0, 1.5, 10.0, 1e4], dtype=torch.float64)  # per-example norms
    grads = random_grads(len(scales), scales)
    sums = [torch.zeros_like(g[0]) for g in grads]
    accumulate_clipped(sums, grads, max_grad_norm=c)
    for got, want in zip(sums, clipped_sum_twin(grads, c)):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)
    # One example at a time: the clipped gradient has norm <= C, and is unchanged when under C.
    for i, scale in enumerate(scales):
        one = [g[i:i + 1] for g in grads]
        clipped = [torch.zeros_like(g[0]) for g in one]
        accumulate_clipped(clipped, one, max_grad_norm=c)
        assert torch.cat([x.flatten() for x in clipped]).norm() <= c
        if scale < c:
            assert all(torch.equal(x, g[0]) for x, g in zip(clipped, one))


def test_no_noise_and_huge_clip_gives_the_nonprivate_mean_gradient():
    # sum over the sampled rows divided by the expected batch size B (not by the number sampled, which is private).
    model = make_model()
    twin = copy.deepcopy(model)
    data = make_data()
    indices = torch.tensor([0, 3, 4, 9, 17])
    expected_batch = 8
    gradient = make_gradient(model, RecordingLoss(), max_grad_norm=1e9, expected_batch_size=expected_batch)
    noisy = gradient(data, indices, generator=torch.Generator().manual_seed(5), noise=SeededRandom(0))
    # Twin: the plain non-private loss with the same draws, summed, over B.
    loss = RecordingLoss()
    (loss(twin, select_rows(data, indices, CPU), torch.Generator().manual_seed(5)).sum() / expected_batch).backward()
    for got, (_, p) in zip(noisy, trainable(twin), strict=True):
        torch.testing.assert_close(got, p.grad, rtol=1e-10, atol=1e-14)


def test_noise_is_the_whole_gradient_of_an_empty_batch():
    model = make_model()
    gradient = make_gradient(model, RecordingLoss(), noise_multiplier=1.3, max_grad_norm=0.7, expected_batch_size=4)
    noisy = gradient(make_data(), torch.empty(0, dtype=torch.long), generator=torch.Generator(),
                     noise=SeededRandom(11))
    twin_noise = torch.Generator().manual_seed(11)
    for got, (_, p) in zip(noisy, trainable(model), strict=True):
        expected = torch.normal(0.0, 1.3 * 0.7, p.shape, generator=twin_noise, dtype=p.dtype) / 4
        torch.testing.assert_close(got, expected, rtol=0, atol=0)


@pytest.mark.parametrize("k", [1, 2])
def test_virtual_batches_give_the_same_update_whatever_the_physical_batch(k):
    data = make_data()
    indices = torch.tensor([1, 2, 5, 8, 13, 23])
    results = []
    for physical in (k, 2 * k + 1, 100):
        gradient = make_gradient(make_model(), data_noise_loss, noise_multiplier=0.8, max_grad_norm=0.05,
                                 noise_multiplicity=k, max_physical_batch=physical)
        results.append(gradient(data, indices, generator=torch.Generator(),
                                noise=SeededRandom(2)))
    for other in results[1:]:
        for got, want in zip(other, results[0], strict=True):
            torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-14)


def test_modules_that_mix_examples_are_refused():
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    with pytest.raises(DpldmError, match="per-example gradients are not possible"):
        make_gradient(model, data_noise_loss)


def test_a_loss_must_return_one_value_per_row():
    gradient = make_gradient(make_model(), lambda m, b, g: data_noise_loss(m, b, g).sum())
    with pytest.raises(ValueError, match="one loss per row"):
        gradient.per_example(make_data(n=2), torch.Generator())


def test_close_detaches_the_hooks():
    model = make_model()
    make_gradient(model, data_noise_loss).close()
    data_noise_loss(model, make_data(n=2), torch.Generator()).sum().backward()
    assert not any(hasattr(p, "grad_sample") for p in model.parameters())


def test_each_examples_contribution_is_clipped_to_c():
    c, expected_batch = 0.01, 4
    gradient = make_gradient(make_model(), data_noise_loss, max_grad_norm=c, expected_batch_size=expected_batch)
    data = make_data(n=4)
    for i in range(4):
        alone = gradient(data, torch.tensor([i]), generator=torch.Generator(), noise=SeededRandom(0))
        norm = torch.cat([g.flatten() for g in alone]).norm() * expected_batch
        assert norm <= c
        assert norm == pytest.approx(c, rel=1e-3)  # these gradients are far above C, so clipping binds
