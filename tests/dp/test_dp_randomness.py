"""Secret randomness: a default DP run's sampling and noise cannot be regenerated from anything it writes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from scipy import stats

from dp_testkit import RecordingLoss, make_data, make_model, trainable, zero_loss
from dpldm.dp.config import DPConfig
from dpldm.dp.engine import DPSGDEngine, SeededRunWarning
from dpldm.dp.randomness import SecretRandom, SeededRandom
from dpldm.dp.sampler import PoissonSampler
from dpldm.errors import DpldmError

# The default config but for the length: dp.seed stays None, i.e. secret OS entropy.
SECRET = DPConfig(epsilon=None, noise_multiplier=1.0, accountant="rdp", max_grad_norm=0.1, expected_batch_size=6,
                  steps=4, max_physical_batch=16)


def sgd(model: torch.nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD([p for _, p in trainable(model)], lr=1.0)


def flat_trainable(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for _, p in trainable(model)])


def test_the_default_config_is_secret():
    assert DPConfig().seed is None
    model = make_model()
    engine = DPSGDEngine(model, sgd(model), zero_loss, make_data(), config=SECRET)
    assert engine.random.secret and engine.sampler.random is engine.random
    assert engine.facts().secret_randomness and engine.facts().note is None


def test_two_default_runs_draw_different_batches_and_noise():
    data = make_data()
    batches, updates = [], []
    for _ in range(2):
        model = make_model()
        engine = DPSGDEngine(model, sgd(model), zero_loss, data, config=SECRET)
        batches.append([engine.sampler.sample().tolist() for _ in range(20)])
        before = flat_trainable(model)
        engine.step()
        updates.append(flat_trainable(model) - before)  # the zero loss leaves pure noise
    assert batches[0] != batches[1]
    assert not torch.equal(updates[0], updates[1])


def test_nothing_a_default_engine_saves_regenerates_its_draws():
    model = make_model()
    engine = DPSGDEngine(model, sgd(model), zero_loss, make_data(), config=SECRET)
    engine.step()
    state = engine.state_dict()
    assert state["noise"] == {"secret": True}
    assert state["sampler"]["random"] == {"secret": True}
    # Restoring that state into a fresh engine does not replay the next draw.
    twin_model = make_model()
    twin_model.load_state_dict(model.state_dict())
    twin = DPSGDEngine(twin_model, sgd(twin_model), zero_loss, make_data(), config=SECRET)
    twin.load_state_dict(state)
    engine.step()
    twin.step()
    assert twin.steps_done == engine.steps_done == 2
    assert not torch.equal(flat_trainable(model), flat_trainable(twin_model))


def test_secret_normal_sums_four_draws_and_keeps_the_law():
    draws = SecretRandom().normal((200_000,), std=2.5, dtype=torch.float64, device=torch.device("cpu")).numpy()
    assert stats.kstest(draws / 2.5, "norm").pvalue > 1e-3
    assert abs(draws.mean()) < 0.03 and draws.std() == pytest.approx(2.5, rel=0.01)


def test_secret_poisson_sampler_is_binomial():
    sampler = PoissonSampler(num_examples=1000, sample_rate=0.05, random=SecretRandom())
    sizes = np.array([len(sampler.sample()) for _ in range(400)], dtype=float)
    assert sizes.mean() == pytest.approx(50, rel=0.03)
    assert sizes.var() == pytest.approx(1000 * 0.05 * 0.95, rel=0.2)


def test_a_seed_warns_and_marks_the_guarantee():
    model = make_model()
    with pytest.warns(SeededRunWarning, match="NOT private against anyone who knows the seed"):
        engine = DPSGDEngine(model, sgd(model), RecordingLoss(), make_data(),
                             config=dataclasses.replace(SECRET, seed=3))
    facts = engine.facts()
    assert not facts.secret_randomness and "NOT private" in facts.note
    assert facts.to_dict()["secret_randomness"] is False


def test_a_seeded_run_regenerates_its_noise_from_the_seed_alone():
    # Why the seed must stay secret: knowing it reproduces the noise bit for bit.
    config = dataclasses.replace(SECRET, seed=5)
    noises = []
    for _ in range(2):
        model = make_model()
        engine = DPSGDEngine(model, sgd(model), zero_loss, make_data(), config=config)
        before = flat_trainable(model)
        engine.step()
        noises.append(flat_trainable(model) - before)
    assert torch.equal(noises[0], noises[1])


@pytest.mark.parametrize("saved_seed, resumed_seed", [(None, 4), (4, None)])
def test_resume_refuses_to_switch_between_secret_and_seeded(saved_seed, resumed_seed):
    model = make_model()
    state = DPSGDEngine(model, sgd(model), zero_loss, make_data(),
                        config=dataclasses.replace(SECRET, seed=saved_seed)).state_dict()
    other = make_model()
    engine = DPSGDEngine(other, sgd(other), zero_loss, make_data(),
                         config=dataclasses.replace(SECRET, seed=resumed_seed))
    with pytest.raises(DpldmError, match="dp.seed"):
        engine.load_state_dict(state)


def test_seeded_random_state_round_trips():
    a = SeededRandom(9)
    a.uniform(5)
    b = SeededRandom(0)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.uniform(7), b.uniform(7))


def test_an_allowed_large_delta_is_stated_in_the_guarantee():
    config = dataclasses.replace(SECRET, delta=0.05, allow_large_delta=True)  # 1/N = 0.042
    model = make_model()
    facts = DPSGDEngine(model, sgd(model), zero_loss, make_data(), config=config).facts()
    assert facts.secret_randomness and "not below 1/N (N = 24)" in facts.note
