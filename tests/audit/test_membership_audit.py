"""`dpldm audit membership` end to end on the tiny public model: a non-private overfit fine-tune must show
membership (the audit can fail), a DP fine-tune must keep the empirical bound below its epsilon, and reruns
resume instead of recomputing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dpldm.audit.design import design_audit
from dpldm.cli.main import main
from dpldm.data.images import LabelledImages
from dpldm.errors import DpldmError
from tiny_configs import tiny

NON_PRIVATE = ["dp.epsilon=null", "dp.noise_multiplier=0.001", "dp.max_grad_norm=100", "dp.accountant=rdp",
               "dp.steps=80", "train.lr=0.02", "dp.seed=0"]  # seeded: reproducible; it has nothing to hide


def audit_args(model: Path, out: Path, *dp: str, benchmarks: Path | None = None) -> list[str]:
    # 96 digits (8x8): 16 become canaries; about half of all are members; the whole UNet is trained.
    return ["audit", "membership", "--config", tiny("tiny_finetune"), "--out", str(out), "--canaries", "16",
            "--timesteps", "50", "100", "200", "--draws", "4",
            *(["--benchmarks", str(benchmarks)] if benchmarks else []),
            "--set", f"public_model={model}", "data.limit=96", "dp.expected_batch_size=40", "trainable.modules=all",
            *dp]


def test_design_coins_are_public_and_canaries_are_outliers():
    rng = np.random.default_rng(0)
    pool = LabelledImages(rng.integers(0, 100, (40, 8, 8), dtype=np.uint8), rng.integers(0, 10, 40),
                          tuple("0123456789"), "toy")
    a, b = (design_audit(pool, n_canaries=8, kind="inverted", seed=3) for _ in range(2))
    for field in ("images", "labels", "canary", "member", "select"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert a.canary.sum() == 8 and len(a.labels) == 40 and not (a.select & ~a.canary).any()
    assert a.images[a.canary].min() >= 155  # inverted dark digits: bright backgrounds
    x, y = a.members()
    assert len(x) == a.member.sum() and (y == a.labels[a.member]).all()
    noise = design_audit(pool, n_canaries=8, kind="noise", seed=3)
    assert noise.images[noise.canary].std() > 60  # uniform pixels
    with pytest.raises(DpldmError, match="more canaries"):  # 4 coins rarely cover all four groups
        for seed in range(100):
            design_audit(pool, n_canaries=4, kind="noise", seed=seed)


def test_non_private_finetune_leaks_and_a_dp_finetune_stays_below_its_epsilon(tiny_public_model, tmp_path, capsys):
    # Non-private: the attack must detect membership (the canaries' AUC interval above 0.5; the records', which
    # this tiny model memorises less, is reported but not required).
    out = tmp_path / "nonprivate"
    table = tmp_path / "BENCHMARKS.md"
    assert main(audit_args(tiny_public_model, out, *NON_PRIVATE, benchmarks=table)) == 0
    result = json.loads((out / "private" / "audit.json").read_text())
    assert result["canaries"]["auc_interval"][0] > 0.5 and result["leakage_detected"]
    assert result["accountant_epsilon"] > 1e6 and result["bound_within_claim"]
    assert "(not private)" in table.read_text() and result["command"] in table.read_text()
    # Everything computed from the private set is in private/; the top level holds only the fine-tune folder.
    assert sorted(p.name for p in out.iterdir()) == ["finetune", "private"]

    # DP at epsilon 1: the canaries' bound is below the accountant's epsilon.
    dp_out = tmp_path / "eps1"
    assert main(audit_args(tiny_public_model, dp_out, "dp.epsilon=1", "dp.accountant=rdp", "dp.steps=10")) == 0
    dp = json.loads((dp_out / "private" / "audit.json").read_text())
    assert dp["bound_within_claim"] and dp["epsilon_lower_bound"]["epsilon"] <= dp["accountant_epsilon"] <= 1.0
    capsys.readouterr()

    # A rerun resumes: every stage is done, the result is the same; other settings are refused.
    assert main(audit_args(tiny_public_model, dp_out, "dp.epsilon=1", "dp.accountant=rdp", "dp.steps=10")) == 0
    assert capsys.readouterr().out.count("done earlier") == 4
    assert json.loads((dp_out / "private" / "audit.json").read_text())["records"] == dp["records"]
    assert main([*audit_args(tiny_public_model, dp_out, "dp.epsilon=1", "dp.accountant=rdp", "dp.steps=10"),
                 "--seed", "1"]) == 2
