"""`dpldm demo` end to end on the shipped public model, shortened (2 DP steps, 3 images per class)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dpldm.cli.main import main
from dpldm.public_models import bundled_models

pytestmark = pytest.mark.skipif("omniglot" not in bundled_models(), reason="shipped omniglot model not installed")


def test_demo_runs_whole_pipeline(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--n-per-class", "3", "--sample-steps", "2", "--classifier-epochs", "1",
                 "--set", "dp.steps=2", "dp.epochs=null"]) == 0
    printed = capsys.readouterr().out
    assert "privacy spent: epsilon" in printed and "ceiling" in printed
    result = json.loads((out / "demo.json").read_text())
    assert 0 < result["epsilon"] <= 10 and result["n_synthetic"] == 30
    assert 0 <= result["accuracy_synthetic"] <= 100 and 0 <= result["accuracy_real_ceiling"] <= 100
    samples = np.load(out / "finetune" / "samples.npz")
    assert samples["images"].shape == (30, 28, 28) and (out / "finetune" / "samples.png").is_file()
    assert main(["report", str(out / "finetune")]) == 0 and (out / "finetune" / "report.html").is_file()
    assert json.loads((out / "finetune" / "privacy.json").read_text())["steps"] == 2
