"""DPSGDEngine: noise scale, frozen parameters, Poisson sampling, the step budget and exact resumption."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
from scipy import stats

from dp_testkit import (N_EXAMPLES, RecordingLoss, data_noise_loss, frozen, make_data, make_model, trainable,
                        zero_loss)
from dpldm.dp.config import DPConfig
from dpldm.dp.engine import DPSGDEngine
from dpldm.dp.plan import make_plan
from dpldm.dp.randomness import SeededRandom
from dpldm.dp.sampler import PoissonSampler
from dpldm.errors import DpldmError

# Fixed sigma and no target: each engine resolves its plan with one cheap RDP evaluation.
CONFIG = DPConfig(epsilon=None, noise_multiplier=1.0, accountant="rdp", max_grad_norm=0.1, expected_batch_size=6,
                  steps=4, max_physical_batch=16, seed=7)


def sgd(model: torch.nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD([p for _, p in trainable(model)], lr=1.0)


def flat_trainable(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for _, p in trainable(model)])


@pytest.mark.parametrize("seed", [7, None], ids=["seeded", "secret"])
def test_noise_std_per_coordinate_is_sigma_c_over_b(seed):
    sigma, c, b, steps = 1.7, 0.3, 6, 12
    config = dataclasses.replace(CONFIG, noise_multiplier=sigma, max_grad_norm=c, steps=steps, seed=seed)
    model = make_model()
    engine = DPSGDEngine(model, sgd(model), zero_loss, make_data(), config=config)
    updates = []
    while not engine.done:
        before = flat_trainable(model)
        engine.step()
        updates.append(flat_trainable(model) - before)  # = -lr * noise / B, the gradient being zero
    updates = torch.cat(updates)  # about 2,000 coordinates
    assert abs(updates.mean().item()) < 0.1 * sigma * c / b
    assert updates.std().item() == pytest.approx(sigma * c / b, rel=0.1)
    # The law itself, not only its first two moments (a KS test against N(0, 1)).
    assert stats.kstest((updates / (sigma * c / b)).numpy(), "norm").pvalue > 1e-6  # secret noise differs per run


def test_frozen_parameters_stay_bit_identical():
    model = make_model()
    before = frozen(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1, weight_decay=0.5)  # frozen ones included on purpose
    engine = DPSGDEngine(model, optimizer, RecordingLoss(), make_data(), config=CONFIG)
    trained_before = flat_trainable(model)
    while not engine.done:
        engine.step()
    after = frozen(model)
    assert before.keys() == after.keys() and len(before) == 4
    assert all(torch.equal(before[name], after[name]) for name in before)
    assert not torch.equal(trained_before, flat_trainable(model))


def test_poisson_sampler_mean_batch_is_qn_and_empty_batches_happen():
    sampler = PoissonSampler(num_examples=1000, sample_rate=0.05, random=SeededRandom(0))
    sizes = torch.tensor([len(sampler.sample()) for _ in range(400)], dtype=torch.float64)
    assert sizes.mean().item() == pytest.approx(50, rel=0.03)
    assert sizes.var().item() == pytest.approx(1000 * 0.05 * 0.95, rel=0.2)  # Binomial(N, q)
    rare = PoissonSampler(num_examples=1000, sample_rate=0.001, random=SeededRandom(0))
    draws = [rare.sample() for _ in range(50)]
    assert any(len(d) == 0 for d in draws)
    assert all(d.dtype == torch.long and torch.equal(d, d.unique()) for d in draws)


def test_empty_logical_batches_still_add_noise_and_step():
    config = dataclasses.replace(CONFIG, expected_batch_size=1, steps=6)  # q = 1/24: most batches are empty
    model = make_model()
    engine = DPSGDEngine(model, sgd(model), RecordingLoss(), make_data(), config=config)
    replay = PoissonSampler(num_examples=24, sample_rate=1 / 24, random=SeededRandom(0))
    empty_seen = 0
    while not engine.done:
        replay.load_state_dict(engine.sampler.state_dict())
        empty = len(replay.sample()) == 0
        before = flat_trainable(model)
        engine.step()
        assert not torch.equal(before, flat_trainable(model))
        empty_seen += empty
    assert empty_seen >= 1


def run_steps(engine: DPSGDEngine, n: int) -> None:
    for _ in range(n):
        engine.step()


def test_resume_equals_an_uninterrupted_run():
    config = dataclasses.replace(CONFIG, noise_multiplicity=2)
    data = make_data()
    straight = make_model()
    uninterrupted = DPSGDEngine(straight, torch.optim.AdamW(straight.parameters(), lr=0.05), RecordingLoss(), data,
                                config=config)
    run_steps(uninterrupted, 4)

    first = make_model()
    optimizer = torch.optim.AdamW(first.parameters(), lr=0.05)
    engine = DPSGDEngine(first, optimizer, RecordingLoss(), data, config=config)
    run_steps(engine, 2)
    checkpoint = copy.deepcopy({"model": first.state_dict(), "optimizer": optimizer.state_dict(),
                                "engine": engine.state_dict()})
    engine.close()

    resumed = make_model(seed=99)  # different weights until the checkpoint is loaded
    resumed.load_state_dict(checkpoint["model"])
    optimizer = torch.optim.AdamW(resumed.parameters(), lr=0.05)
    optimizer.load_state_dict(checkpoint["optimizer"])
    engine_resumed = DPSGDEngine(resumed, optimizer, RecordingLoss(), data, config=config)
    engine_resumed.load_state_dict(checkpoint["engine"])
    assert engine_resumed.steps_done == 2
    run_steps(engine_resumed, 2)

    assert engine_resumed.done
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert engine_resumed.epsilon() == uninterrupted.epsilon() > engine.epsilon() > 0
    assert engine_resumed.facts() == uninterrupted.facts()


def test_resume_refuses_a_changed_plan():
    model = make_model()
    state = DPSGDEngine(model, sgd(model), data_noise_loss, make_data(), config=CONFIG).state_dict()
    other = make_model()
    engine = DPSGDEngine(other, sgd(other), data_noise_loss, make_data(),
                         config=dataclasses.replace(CONFIG, noise_multiplier=2.0))
    with pytest.raises(DpldmError, match="noise_multiplier"):
        engine.load_state_dict(state)


def test_training_stops_at_the_planned_budget():
    config = dataclasses.replace(CONFIG, epsilon=10.0, noise_multiplier=2.0, steps=3)
    model = make_model()
    engine = DPSGDEngine(model, sgd(model), data_noise_loss, make_data(), config=config)
    assert engine.plan.epsilon <= 10.0
    run_steps(engine, 3)
    assert engine.done and engine.steps_done == 3
    assert engine.ledger.would_exceed(engine.plan.epsilon, steps=1)
    assert engine.facts().epsilon == pytest.approx(engine.plan.epsilon)
    with pytest.raises(DpldmError, match="planned steps are done"):
        engine.step()


def test_plan_resolves_steps_and_calibrates_sigma():
    config = DPConfig(epsilon=3.0, delta=1e-5, expected_batch_size=100, epochs=10.0, accountant="rdp")
    plan = make_plan(config, dataset_size=10_000)
    assert plan.sample_rate == 0.01 and plan.steps == 1000
    assert plan.epsilon <= 3.0
    assert plan.noise_multiplier == pytest.approx(0.8646, abs=5e-4)


@pytest.mark.parametrize("change, message", [
    (dict(noise_multiplier=0.3, epsilon=1.0), "more than the target"),
    (dict(expected_batch_size=25), "exceeds the dataset size"),
    (dict(epochs=2.0), "not both"),
    (dict(noise_multiplicity=32), "max_physical_batch"),
    (dict(epsilon=None, noise_multiplier=None), "set epsilon"),
])
def test_plan_refuses_bad_configs(change, message):
    with pytest.raises(DpldmError, match=message):
        make_plan(dataclasses.replace(CONFIG, **change), dataset_size=24)


@pytest.mark.parametrize("seed", [7, None], ids=["seeded", "secret"])
def test_resume_from_another_kind_of_device(seed):
    # A CUDA generator's state is 16 bytes (seed, offset), a CPU one's 5056: the loss generator's saved state says
    # which kind of device a run started on. A secret run resumes with a fresh loss seed (it needs no secrecy, and
    # the DP noise is fresh on resume anyway); a seeded run cannot continue its streams there, and says so.
    config = dataclasses.replace(CONFIG, seed=seed)
    model = make_model()
    engine = DPSGDEngine(model, sgd(model), data_noise_loss, make_data(), config=config)
    run_steps(engine, 1)
    state = engine.state_dict()
    state["loss_generator"] = torch.zeros(16, dtype=torch.uint8)  # as saved by a run on CUDA
    other = make_model()
    resumed = DPSGDEngine(other, sgd(other), data_noise_loss, make_data(), config=config)
    before = resumed.loss_generator.get_state()
    if seed is None:
        resumed.load_state_dict(state)
        assert resumed.steps_done == 1 and torch.equal(resumed.loss_generator.get_state(), before)
        run_steps(resumed, 1)
    else:
        with pytest.raises(DpldmError, match="another kind of device"):
            resumed.load_state_dict(state)
        state["loss_generator"] = engine.loss_generator.get_state()  # the same kind: resumes exactly
        resumed.load_state_dict(state)
        assert torch.equal(resumed.loss_generator.get_state(), engine.loss_generator.get_state())


def test_a_plan_passed_in_is_used_once_and_must_fit_the_data():
    data = make_data()
    plan = make_plan(CONFIG, dataset_size=N_EXAMPLES)
    model = make_model()
    assert DPSGDEngine(model, sgd(model), zero_loss, data, config=CONFIG, plan=plan).plan is plan
    other = make_plan(CONFIG, dataset_size=N_EXAMPLES + 6)  # another dataset size: another sample rate
    with pytest.raises(DpldmError, match="another config or dataset size"):
        DPSGDEngine(make_model(), sgd(model), zero_loss, data, config=CONFIG, plan=other)
