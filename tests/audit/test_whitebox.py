"""White-box gradient canary through the real DP-SGD engine: with the seed the adversary detects the canary far
above the claim (the audit can fail); with secret entropy the bound stays below the claim."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from dpldm.audit.whitebox import WhiteboxConfig, train_run, whitebox_audit
from dpldm.dp import DPConfig

CFG = WhiteboxConfig(trials=300, steps=8, epsilon=1.0, accountant="rdp")


def test_observed_gradients_are_the_engines_noisy_mean_gradient():
    # Full batch (q = 1) and no noise: the adversary's read-out is the clipped canary over B, every step.
    cfg = replace(CFG, dataset_size=4, expected_batch_size=4)
    x = torch.zeros(4, cfg.dim, dtype=torch.float64)
    x[-1, 0] = 10.0
    dp = DPConfig(epsilon=None, noise_multiplier=1e-12, max_grad_norm=1.0, expected_batch_size=4, steps=3,
                  accountant="rdp", max_physical_batch=4, seed=0)  # seeded: reproducible on purpose
    grads = train_run(cfg, dp, x)
    expected = torch.zeros(3, cfg.dim, dtype=torch.float64)
    expected[:, 0] = 1.0 / 4  # C * min(1, C / ||g||) / B
    torch.testing.assert_close(grads, expected, atol=1e-6, rtol=0)


def test_seed_known_adversary_regenerates_the_noise_and_beats_the_claim():
    result = whitebox_audit(CFG, seed_known=True)
    bound = result["epsilon_lower_bound"]
    # Without the canary the rerun is bit-identical: every out-trial scores exactly 0, so nothing is a false positive.
    assert result["mean_score_out"] == 0.0 and bound["fp"] == 0
    assert result["mean_score_in"] > 3  # about q * steps = 4 sampled steps
    assert not result["bound_within_claim"]
    assert bound["epsilon"] > 2.5 * result["accountant_epsilon"]


def test_secret_entropy_keeps_the_bound_below_the_claim():
    # Secret noise differs on every run: at 300 trials the in/out mean gap (about 4) is only ~2 standard errors,
    # so the last check would fail by chance in about 1-2% of runs; 1,200 trials put it more than 4 away.
    result = whitebox_audit(replace(CFG, trials=1200), seed_known=False)
    assert result["bound_within_claim"]
    assert result["epsilon_lower_bound"]["epsilon"] < result["accountant_epsilon"]
    # The canary is still in the updates, under noise: in-trials score higher on average.
    assert result["mean_score_in"] > result["mean_score_out"]


def test_trial_coins_are_public_and_fixed_by_the_seed():
    a = whitebox_audit(replace(CFG, trials=20), seed_known=True)
    b = whitebox_audit(replace(CFG, trials=20), seed_known=True)
    assert a == b
    with pytest.raises(Exception, match="trials"):
        whitebox_audit(replace(CFG, trials=2), seed_known=True)
    assert np.isfinite(a["noise_multiplier"])


def test_cli_exits_1_when_the_bound_exceeds_the_claim_and_records_the_row(tmp_path, capsys):
    from dpldm.cli.main import main

    table = tmp_path / "BENCHMARKS.md"
    args = ["audit", "whitebox", "--trials", "80", "--accountant", "rdp", "--benchmarks", str(table)]
    assert main([*args, "--seed-known", "--json"]) == 1  # the seed-known adversary refutes epsilon 1
    result = json.loads(capsys.readouterr().out)
    assert result["epsilon_lower_bound"]["epsilon"] > result["accountant_epsilon"]
    assert main(args) == 0
    assert "within the claim" in capsys.readouterr().out
    rows = [line for line in table.read_text().split("\n") if line.startswith("| seed handed over")
            or line.startswith("| secret entropy")]
    assert len(rows) == 2 and "exceeds the claim" in rows[0]
    assert len(list((tmp_path / "benchmarks" / "results" / "whitebox").glob("*.json"))) == 2  # one per command
