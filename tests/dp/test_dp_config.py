"""DPConfig as a config section: typed, validated, unknown keys refused."""

from __future__ import annotations

import pytest

from dpldm.config import ConfigError, from_dict
from dpldm.dp.config import DPConfig


def test_yaml_style_values_load():
    config = from_dict(DPConfig, {"epsilon": 1, "delta": "1e-5", "steps": 200, "accountant": "rdp",
                                  "noise_multiplicity": 4})
    assert config == DPConfig(epsilon=1.0, delta=1e-5, steps=200, accountant="rdp", noise_multiplicity=4)


@pytest.mark.parametrize("data, message", [
    ({"epsilon": 0, "steps": 10}, "epsilon must be a positive"),
    ({"delta": 1.0, "steps": 10}, "delta"),
    ({"max_grad_norm": 0, "steps": 10}, "max_grad_norm"),
    ({"expected_batch_size": 0, "steps": 10}, "expected_batch_size"),
    ({"epochs": 10, "steps": 100}, "not both"),
    ({}, "set the length of training"),
    ({"noise_multiplicity": 0, "steps": 10}, "noise_multiplicity"),
    ({"noise_multiplicity": 8, "max_physical_batch": 4, "steps": 10}, "max_physical_batch"),
    ({"accountant": "gdp", "steps": 10}, "accountant"),
    ({"epsilon": None, "steps": 10}, "set epsilon"),
    ({"clip": 1.0}, "unknown config key 'clip'"),
])
def test_bad_values_are_refused(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(DPConfig, data)
