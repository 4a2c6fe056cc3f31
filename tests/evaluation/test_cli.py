"""`dpldm evaluate`, `dpldm report` and `dpldm bench fid` through the CLI entry point, on tiny inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dpldm.cli.main import main
from dpldm.evaluation import backends


@pytest.fixture
def tiny_backend(monkeypatch: pytest.MonkeyPatch, tiny_features) -> None:
    """Both Inception backends replaced by the tiny extractor."""
    monkeypatch.setattr(backends, "inception_backend", lambda name, **kwargs: tiny_features)


def write_model(folder: Path, facts: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.json").write_text(json.dumps(facts))
    return folder


def test_evaluate_accuracy_json_and_out(synthetic_npz: Path, tiny_root: Path, tmp_path: Path, capsys,
                                        generator_facts: dict) -> None:
    out = tmp_path / "run" / "metrics.json"
    model = write_model(tmp_path / "run" / "model", generator_facts)
    rc = main(["evaluate", "accuracy", "--synthetic", str(synthetic_npz), "--dataset", "mnist", "--data-root",
               str(tiny_root), "--epochs", "1", "--epsilon", "10", "--model", str(model), "--json", "--out", str(out)])
    assert rc == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["metric"] == "accuracy" and printed["runs"][0]["classifier"] == "cnn"
    assert printed["selection"]["epsilon"] == 10.0 and printed["selection"]["split_key"] == 0
    assert json.loads(out.read_text())["accuracy"]["test_accuracy"] == printed["test_accuracy"]


def test_no_output_of_evaluate_or_report_holds_private_validation_counts(
        synthetic_npz: Path, tiny_root: Path, tmp_path: Path, capsys, generator_facts: dict, sentinel_counts) -> None:
    run = tmp_path / "run"
    write_model(run / "model", generator_facts)
    common = ["evaluate", "accuracy", "--synthetic", str(synthetic_npz), "--dataset", "mnist", "--data-root",
              str(tiny_root), "--epochs", "3", "--seeds", "0", "1", "--model", str(run)]
    assert main([*common, "--json", "--out", str(run / "metrics.json")]) == 0
    assert main(common) == 0  # text output, progress lines on stdout
    assert main(["evaluate", "accuracy", "--synthetic", "real:mnist:train", "--dataset", "mnist", "--data-root",
                 str(tiny_root), "--epochs", "2", "--json"]) == 0  # the ceiling
    assert main(["report", str(run)]) == 0
    printed = capsys.readouterr()
    assert len(sentinel_counts.runs) == 2 + 2 + 1 and "NOT differentially private" in printed.out
    assert sentinel_counts.assert_absent(printed.out, printed.err, folders=(run,)) >= 3


def test_report_leaves_out_counts_an_older_version_wrote(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    run.mkdir()
    old = {"accuracy": {"mean": 90.0, "runs": [{"classifier": "cnn", "validation_correct": [812345, 823456],
                                                 "validation_accuracy": 97.531}]}}
    (run / "metrics.json").write_text(json.dumps(old))
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    assert "812345" not in page and "97.531" not in page and "validation_correct" not in page
    assert "2 noise-free private validation count field(s)" in page


def test_evaluate_fid_text_merges_into_metrics(synthetic_npz: Path, tiny_root: Path, tmp_path: Path, capsys,
                                               tiny_backend) -> None:
    out = tmp_path / "metrics.json"
    out.write_text(json.dumps({"accuracy": {"mean": 50.0}}))
    rc = main(["evaluate", "fid", "--synthetic", str(synthetic_npz), "--dataset", "mnist", "--data-root",
               str(tiny_root), "--n", "100", "--out", str(out)])
    assert rc == 0
    assert "FID" in capsys.readouterr().out
    merged = json.loads(out.read_text())
    assert set(merged) == {"accuracy", "fid"} and merged["fid"]["n_synthetic"] == 100


@pytest.mark.parametrize("argv, message", [
    (["evaluate", "fid", "--synthetic", "missing.npz", "--dataset", "mnist"], "not found"),
    (["evaluate", "accuracy", "--synthetic", "real:mnist", "--dataset", "mnist"], "real:NAME:SPLIT"),
    (["evaluate", "accuracy", "--synthetic", "x.npz", "--dataset", "mnist", "--epsilon", "0"], "positive"),
    (["evaluate", "accuracy", "--synthetic", "x.npz", "--dataset", "mnist"], "needs the generator's model"),
    (["evaluate", "accuracy", "--synthetic", "x.npz", "--dataset", "mnist", "--model", "nowhere"], "no model.json"),
])
def test_user_errors_are_one_line(argv: list[str], message: str, tiny_root: Path, capsys, tiny_backend) -> None:
    assert main([*argv, "--data-root", str(tiny_root)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_report_writes_a_page(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "log.jsonl").write_text("".join(json.dumps({"step": s, "loss": 1 / (s + 1), "epsilon": s / 10}) + "\n"
                                           for s in range(5)))
    np.savez(run / "samples.npz", images=np.zeros((6, 8, 8), np.uint8), labels=np.array([0, 0, 1, 1, 2, 2]))
    assert main(["report", str(run)]) == 0
    page = Path(capsys.readouterr().out.strip())
    assert page == run / "report.html" and "data:image/png;base64," in page.read_text()


def test_bench_fid_reports_both_backends(tiny_root: Path, capsys, tiny_backend) -> None:
    assert main(["bench", "fid", "--dataset", "mnist", "--data-root", str(tiny_root), "--n", "8", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 8 and result["max_abs_feature_diff"] == 0.0
    assert result["onnx_img_per_s"] > 0 and result["torchscript_img_per_s"] > 0
