"""`dpldm demo` end to end on the shipped public model, shortened (2 DP steps, 3 images per class)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dpldm.cli.main import main
from dpldm.public_models import bundled_models

pytestmark = pytest.mark.skipif("glyphs8" not in bundled_models(),
                                reason="shipped glyphs8 model (the demo's public model) not installed")


def test_demo_runs_whole_pipeline(tmp_path, capsys, sentinel_counts):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--n-per-class", "3", "--sample-steps", "2", "--classifier-epochs", "1",
                 "--set", "dp.steps=2", "dp.epochs=null"]) == 0
    printed = capsys.readouterr().out
    assert "privacy spent: epsilon" in printed and "ceiling, NOT differentially private" in printed
    result = json.loads((out / "demo.json").read_text())
    assert 0 < result["epsilon"] <= 10 and result["n_synthetic"] == 30
    assert 0 <= result["accuracy_synthetic"] <= 100 and "accuracy_real_ceiling" not in str(result)
    # The ceiling is a non-DP statistic of the private digits: private, not beside the releasable results.
    ceiling = json.loads((out / "private" / "ceiling.json").read_text())
    assert ceiling["accuracy_real_ceiling_non_dp"] == ceiling["accuracy"]["test_accuracy"]
    assert f"NOT differentially private) {ceiling['accuracy_real_ceiling_non_dp']:.1f}%" in printed
    assert "NOT differentially private" in ceiling["accuracy"]["privacy"]
    assert set(json.loads((out / "finetune" / "metrics.json").read_text())) == {"accuracy"}
    # No output holds the per-epoch validation counts of either evaluation (synthetic-trained and ceiling).
    model = json.loads((out / "finetune" / "model" / "model.json").read_text())
    assert model["holdout_validation"] and model["validation_split"]["key"] == 0
    assert len(sentinel_counts.runs) == 2
    assert sentinel_counts.assert_absent(printed, capsys.readouterr().out, folders=(out,)) > 5
    samples = np.load(out / "finetune" / "samples.npz")
    assert samples["images"].shape == (30, 28, 28) and (out / "finetune" / "samples.png").is_file()
    assert main(["report", str(out / "finetune")]) == 0 and (out / "finetune" / "report.html").is_file()
    assert "private, never to be published" in capsys.readouterr().out
    # A rerun of the same demo resumes; one with other sampling settings is refused before it replaces samples.
    assert main(["demo", "--out", str(out), "--n-per-class", "3", "--sample-steps", "2", "--classifier-epochs", "1",
                 "--set", "dp.steps=2", "dp.epochs=null"]) == 0
    assert main(["demo", "--out", str(out), "--n-per-class", "4", "--sample-steps", "2", "--classifier-epochs", "1",
                 "--set", "dp.steps=2", "dp.epochs=null"]) == 2
    assert "(changed: n_per_class 3 -> 4)" in capsys.readouterr().err
    assert json.loads((out / "finetune" / "privacy.json").read_text())["steps"] == 2
