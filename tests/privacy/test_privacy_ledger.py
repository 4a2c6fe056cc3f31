"""PrivacyLedger: stepped once per logical step, resumable, never past the target; PrivacyFacts as JSON."""

from __future__ import annotations

import dataclasses
import json

import pytest

from dpldm.errors import DpldmError
from dpldm.privacy.accountant import epsilon
from dpldm.privacy.facts import PrivacyFacts
from dpldm.privacy.ledger import PrivacyLedger

MECHANISM = dict(accountant="rdp", noise_multiplier=1.0, sample_rate=0.01, delta=1e-5)


def test_ledger_epsilon_is_the_accountant_epsilon_of_its_steps():
    ledger = PrivacyLedger(**MECHANISM)
    assert ledger.epsilon() == 0.0
    for _ in range(1000):
        ledger.step()
    assert ledger.steps == 1000
    assert ledger.epsilon() == epsilon(steps=1000, **MECHANISM) == pytest.approx(2.1014, abs=1e-3)


def test_resumed_ledger_reports_what_an_uninterrupted_one_does():
    straight, first = PrivacyLedger(**MECHANISM), PrivacyLedger(**MECHANISM)
    for _ in range(700):
        straight.step()
    for _ in range(300):
        first.step()
    saved = json.loads(json.dumps(first.state_dict()))  # survives a round trip through a checkpoint file
    resumed = PrivacyLedger(**MECHANISM)
    resumed.load_state_dict(saved)
    for _ in range(400):
        resumed.step()
    assert resumed.steps == straight.steps
    assert resumed.epsilon() == straight.epsilon()
    assert resumed.facts() == straight.facts()


@pytest.mark.parametrize("change", [dict(noise_multiplier=1.1), dict(sample_rate=0.02), dict(delta=1e-6),
                                    dict(accountant="prv")])
def test_resume_refuses_a_different_mechanism(change):
    saved = PrivacyLedger(**MECHANISM).state_dict()
    with pytest.raises(DpldmError, match="cannot resume"):
        PrivacyLedger(**{**MECHANISM, **change}).load_state_dict(saved)


def test_would_exceed_stops_before_the_target():
    ledger = PrivacyLedger(**MECHANISM)
    ledger.load_state_dict({**ledger.state_dict(), "steps": 497})
    target = epsilon(steps=500, **MECHANISM)
    while not ledger.would_exceed(target):
        ledger.step()
    assert ledger.steps == 500
    assert ledger.epsilon() <= target
    assert ledger.would_exceed(target, steps=1)
    assert not ledger.would_exceed(target, steps=0)


def test_facts_are_immutable_and_name_the_guarantee():
    ledger = PrivacyLedger(**MECHANISM)
    for _ in range(10):
        ledger.step()
    facts = ledger.facts(target_epsilon=3.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        facts.epsilon = 0.0  # type: ignore[misc]
    data = json.loads(facts.to_json())
    assert data == {"accountant": "rdp", "noise_multiplier": 1.0, "sample_rate": 0.01, "steps": 10,
                    "delta": 1e-5, "epsilon": ledger.epsilon(), "target_epsilon": 3.0,
                    "neighbouring_relation": "add/remove one", "sampling": "Poisson",
                    "libraries": {"opacus": data["libraries"]["opacus"]}, "secret_randomness": None,
                    "note": None, "prior": []}
    assert isinstance(facts, PrivacyFacts) and data["libraries"]["opacus"].startswith("1.")


def test_ledger_validates_its_mechanism():
    with pytest.raises(DpldmError, match="sample rate"):
        PrivacyLedger(**{**MECHANISM, "sample_rate": 0.0})
    with pytest.raises(DpldmError, match="noise multiplier"):
        PrivacyLedger(**{**MECHANISM, "noise_multiplier": 0.0})
