"""`dpldm privacy` through the CLI entry point."""

from __future__ import annotations

import json

import pytest

from dpldm.cli.main import main

RDP_CASE = ["privacy", "--sample-rate", "0.01", "--steps", "1000", "--delta", "1e-5", "--accountant", "rdp"]


def run_json(capsys, argv: list[str]) -> dict:
    assert main(argv + ["--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    return json.loads(out)


def test_epsilon_from_noise_multiplier(capsys):
    data = run_json(capsys, RDP_CASE + ["--noise-multiplier", "1.0"])
    assert {"epsilon", "noise_multiplier", "sample_rate", "steps", "delta", "accountant"} <= data.keys()
    assert data["epsilon"] == pytest.approx(2.1014, abs=1e-3)
    assert (data["noise_multiplier"], data["sample_rate"], data["steps"], data["delta"], data["accountant"]) == (
        1.0, 0.01, 1000, 1e-5, "rdp")
    assert data["target_epsilon"] is None


def test_noise_multiplier_from_target_epsilon(capsys):
    data = run_json(capsys, RDP_CASE + ["--epsilon", "3"])
    assert data["noise_multiplier"] == pytest.approx(0.8646, abs=5e-4)
    assert data["epsilon"] <= 3.0 and data["target_epsilon"] == 3.0


def test_epochs_with_batch_and_dataset_size(capsys):
    argv = ["privacy", "--noise-multiplier", "1.0", "--batch-size", "2000", "--dataset-size", "60000",
            "--epochs", "10", "--accountant", "rdp"]
    data = run_json(capsys, argv)
    assert data["steps"] == 300 and data["sample_rate"] == pytest.approx(1 / 30)


def test_human_readable_output(capsys):
    assert main(RDP_CASE + ["--noise-multiplier", "1.0"]) == 0
    out = capsys.readouterr().out
    assert "epsilon 2.1014" in out and "Poisson" in out and "add/remove one" in out


@pytest.mark.parametrize("argv, message", [
    (RDP_CASE, "exactly one of --noise-multiplier"),
    (RDP_CASE + ["--noise-multiplier", "1", "--epsilon", "3"], "exactly one of --noise-multiplier"),
    (RDP_CASE + ["--noise-multiplier", "-1"], "noise multiplier must be a positive"),
    (RDP_CASE + ["--epsilon", "0"], "target epsilon"),
    (["privacy", "--noise-multiplier", "1", "--sample-rate", "1.5", "--steps", "10"], "sample rate"),
    (["privacy", "--noise-multiplier", "1", "--sample-rate", "0.1", "--steps", "0"], "steps"),
    (["privacy", "--noise-multiplier", "1", "--sample-rate", "0.1", "--steps", "10", "--delta", "1"], "delta"),
    (["privacy", "--noise-multiplier", "1", "--steps", "10"], "--sample-rate"),
    (["privacy", "--noise-multiplier", "1", "--sample-rate", "0.1"], "exactly one of --steps or --epochs"),
    (["privacy", "--noise-multiplier", "1", "--batch-size", "10", "--steps", "5"], "go together"),
])
def test_invalid_input_is_a_one_line_error(capsys, argv, message):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("dpldm privacy: error:")
    assert message in captured.err
