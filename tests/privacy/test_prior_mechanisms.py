"""Mechanisms run on the private data before a DP-SGD run (a DP choice of public classes: one Gaussian mechanism,
(sigma, 1, 1)) composed with it inside one accountant: against dp-accounting's own composition, in calibration, in
the running ledger (resumable) and in a private set's ledger."""

from __future__ import annotations

import json

import dp_accounting
import pytest

from dpldm.dp import DPConfig, make_plan
from dpldm.errors import DpldmError
from dpldm.privacy.accountant import calibrate_noise, composed_epsilon, epsilon
from dpldm.privacy.budget import BudgetConfig, PrivacyEvent, compose, record_release
from dpldm.privacy.ledger import PrivacyLedger

SELECTION = (20.0, 1.0, 1)  # a Gaussian mechanism on the whole data, sigma 20
DPSGD = dict(noise_multiplier=1.2, sample_rate=0.05, steps=300)
DELTA = 1e-5


def pld_twin(gaussian_sigma, sigma, q, steps, delta):
    """dp-accounting's own events: a Gaussian mechanism, then Poisson-sampled Gaussian steps."""
    acc = dp_accounting.pld.PLDAccountant(neighboring_relation=dp_accounting.NeighboringRelation.ADD_OR_REMOVE_ONE)
    acc.compose(dp_accounting.GaussianDpEvent(gaussian_sigma))
    acc.compose(dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps))
    return acc.get_epsilon(delta)


def test_gaussian_mechanism_is_one_step_at_rate_one():
    acc = dp_accounting.pld.PLDAccountant(neighboring_relation=dp_accounting.NeighboringRelation.ADD_OR_REMOVE_ONE)
    acc.compose(dp_accounting.GaussianDpEvent(20.0))
    assert epsilon(noise_multiplier=20.0, sample_rate=1.0, steps=1, delta=DELTA, accountant="pld") == pytest.approx(
        acc.get_epsilon(DELTA), rel=1e-6)


def test_composition_matches_dp_accounting():
    ours = composed_epsilon([SELECTION, tuple(DPSGD.values())], delta=DELTA, accountant="pld")
    assert ours == pytest.approx(pld_twin(20.0, 1.2, 0.05, 300, DELTA), rel=1e-6)
    alone = epsilon(delta=DELTA, accountant="pld", **DPSGD)
    assert alone < ours < alone + epsilon(noise_multiplier=20.0, sample_rate=1.0, steps=1, delta=DELTA,
                                          accountant="pld")  # tighter than adding the two epsilons


@pytest.mark.parametrize("accountant", ["rdp", "prv", "pld"])
def test_calibration_meets_the_total_target(accountant):
    target = 3.0
    sigma = calibrate_noise(target_epsilon=target, sample_rate=0.05, steps=300, delta=DELTA, accountant=accountant,
                            prior=(SELECTION,), tol=1e-3)
    total = composed_epsilon([SELECTION, (sigma, 0.05, 300)], delta=DELTA, accountant=accountant)
    assert total <= target
    assert composed_epsilon([SELECTION, (sigma - 2e-3, 0.05, 300)], delta=DELTA, accountant=accountant) > target
    alone = calibrate_noise(target_epsilon=target, sample_rate=0.05, steps=300, delta=DELTA, accountant=accountant,
                            tol=1e-3)
    assert sigma > alone  # the prior took some of the budget


def test_calibration_refuses_a_prior_over_the_target():
    with pytest.raises(DpldmError, match="already spend"):
        calibrate_noise(target_epsilon=0.01, sample_rate=0.05, steps=300, delta=DELTA, accountant="pld",
                        prior=((2.0, 1.0, 1),))


def test_plan_states_the_composed_epsilon():
    cfg = DPConfig(epsilon=3.0, delta=DELTA, expected_batch_size=50, steps=300, accountant="rdp")
    plan = make_plan(cfg, dataset_size=1000, prior=(SELECTION,))
    assert plan.prior == (SELECTION,)
    assert plan.epsilon == composed_epsilon([SELECTION, (plan.noise_multiplier, 0.05, 300)], delta=DELTA,
                                            accountant="rdp") <= 3.0
    assert plan.noise_multiplier > make_plan(cfg, dataset_size=1000).noise_multiplier


def test_ledger_composes_and_resumes_with_its_prior():
    mechanism = dict(accountant="pld", noise_multiplier=1.2, sample_rate=0.05, delta=DELTA)
    ledger = PrivacyLedger(**mechanism, prior=(SELECTION,))
    assert ledger.epsilon() == pytest.approx(epsilon(noise_multiplier=20.0, sample_rate=1.0, steps=1, delta=DELTA,
                                                     accountant="pld"))  # before any step: the prior's alone
    for _ in range(300):
        ledger.step()
    assert ledger.epsilon() == pytest.approx(pld_twin(20.0, 1.2, 0.05, 300, DELTA), rel=1e-6)
    assert ledger.facts().prior == (SELECTION,)
    assert json.loads(ledger.facts().to_json())["prior"] == [{"noise_multiplier": 20.0, "sample_rate": 1.0,
                                                             "steps": 1}]
    saved = json.loads(json.dumps(ledger.state_dict()))
    resumed = PrivacyLedger(**mechanism, prior=(SELECTION,))
    resumed.load_state_dict(saved)
    assert resumed.epsilon() == ledger.epsilon()
    with pytest.raises(DpldmError, match="cannot resume"):
        PrivacyLedger(**mechanism).load_state_dict(saved)  # the prior cannot vanish midway
    older = {k: v for k, v in PrivacyLedger(**mechanism).state_dict().items() if k != "prior"}
    PrivacyLedger(**mechanism).load_state_dict(older)  # a checkpoint from before priors: none


def test_dataset_ledger_composes_a_gaussian_event_in_the_accountant(tmp_path):
    gaussian = PrivacyEvent.gaussian(noise_multiplier=20.0, delta=DELTA, accountant="pld", epsilon=0.2,
                                     run=tmp_path / "select", mechanism="histogram")
    dpsgd = PrivacyEvent.dpsgd(delta=DELTA, accountant="pld", epsilon=2.0, run=tmp_path / "ft", **DPSGD)
    total = compose([gaussian, dpsgd])
    assert total.pure_epsilon == 0.0
    assert total.epsilon == pytest.approx(pld_twin(20.0, 1.2, 0.05, 300, DELTA), rel=1e-6)
    assert PrivacyEvent.from_dict(json.loads(json.dumps(gaussian.to_dict()))) == gaussian
    budget = BudgetConfig(epsilon=0.05, ledger_dir=str(tmp_path / "ledger"))
    with pytest.raises(DpldmError, match="over the budget"):
        record_release(budget, key="a" * 64, event=gaussian)
    assert record_release(BudgetConfig(ledger_dir=str(tmp_path / "ledger")), key="a" * 64,
                          event=gaussian).events == 1
