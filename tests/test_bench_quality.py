"""`dpldm bench quality` on the tiny public model: every stage runs, a rerun resumes, the row lands in the table;
sampling in parts equals one uninterrupted call."""

from __future__ import annotations

import json

import numpy as np
import yaml
import pytest

from dpldm.bench import quality
from dpldm.bench.quality import QUALITY_TABLE, QualitySettings, record_row, run_quality
from dpldm.errors import DpldmError
from dpldm.public_models import resolve_model
from dpldm.synthesis import SampleConfig, generate, generate_in_parts, image_seeds
from tiny_configs import tiny


class PooledPixels:
    """2x2 average-pooled pixels of 8x8 images as 16-d features: a stand-in for Inception."""

    name = "test-pool2"
    dim = 16

    def features(self, images: np.ndarray) -> np.ndarray:
        x = images.astype(np.float64)[:, :8, :8]
        return x.reshape(len(x), 4, 2, 4, 2).mean(axis=(2, 4)).reshape(len(x), -1) / 255.0


@pytest.fixture
def settings(tmp_path, tiny_public_model, monkeypatch) -> QualitySettings:
    monkeypatch.setenv("DPLDM_CACHE", str(tmp_path / "cache"))
    return QualitySettings(dataset="digits", epsilon=10.0, out=tmp_path / "run", config=tiny("tiny_finetune"),
                           overrides=[f"public_model={tiny_public_model}"], n_samples=40, fid_n=30,
                           sample_steps=3, classifier_epochs=2, classifier_image_size=28, part_size=16)


def test_quality_runs_every_stage_then_resumes_without_redoing_them(settings, tmp_path, monkeypatch, capsys,
                                                                     sentinel_counts):
    messages = []
    result = run_quality(settings, extractor=PooledPixels(), progress=True, say=messages.append)
    # No file it wrote, no message, nothing printed holds the per-epoch validation counts.
    assert len(sentinel_counts.runs) == 1 and result["accuracy_selected"]["epoch"] in (1, 2)
    printed = capsys.readouterr()
    sentinel_counts.assert_absent(*messages, printed.out, printed.err, folders=(settings.out,))

    assert result["epsilon"] <= 10.0 and result["target_epsilon"] == 10.0
    assert result["n_synthetic"] == 40 and result["fid_n_synthetic"] == 30 and result["fid_n_reference"] == 30
    assert 0.0 <= result["accuracy"] <= 100.0 and np.isfinite(result["fid"]) and result["fid"] >= 0
    assert result["selection"]["kind"] == "private-val"
    assert set(result["stage_wall_s"]) == {"finetune", "sample", "accuracy", "fid"}
    assert json.loads((settings.out / "result.json").read_text()) == result
    assert len(list((settings.out / "sample_parts").glob("part-*.npz"))) == 3  # 40 images in parts of 16

    # Rerun on other code: nothing is recomputed, the numbers and the commit they were computed at stay.
    monkeypatch.setattr(quality, "git_commit", lambda: "newer")
    again = []
    rerun = run_quality(settings, extractor=PooledPixels(), progress=False, say=again.append)
    assert rerun["fid"] == result["fid"] and rerun["commit"] == result["commit"] != "newer"
    assert sum("done earlier" in m for m in again) == 4

    # An interrupted accuracy stage (no accuracy.json) reruns that stage only, and the row names both commits.
    (settings.out / "accuracy.json").unlink()
    third = []
    assert run_quality(settings, extractor=PooledPixels(), progress=False,
                       say=third.append)["commit"] == f"{result['commit']}/newer"
    assert [m for m in third if "running" in m] == ["accuracy: running"]

    # Settings that cannot change a result may differ (dpldm.runsettings, as for the fine-tuning run itself).
    settings.overrides = [*settings.overrides, "train.threads=1", "train.log_every=1"]
    assert run_quality(settings, extractor=PooledPixels(), progress=False, say=lambda m: None)["fid"] == result["fid"]

    # Other settings never reuse stale results: the stage that would change, and those after it, are refused.
    settings.n_samples = 50
    with pytest.raises(DpldmError, match=r"sample.json was computed with other settings \(changed: "
                                         r"sample\.n_samples 40 -> 50\)"):
        run_quality(settings, extractor=PooledPixels(), progress=False, say=lambda m: None)


def test_quality_refuses_a_config_for_another_dataset(settings):
    settings.dataset = "mnist"
    with pytest.raises(DpldmError, match="not on --dataset 'mnist'"):
        run_quality(settings, extractor=PooledPixels(), progress=False, say=lambda m: None)


def test_record_row_adds_the_table_then_replaces_the_row_of_the_same_command(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\nOther text.\n")
    result = {"dataset": "mnist", "target_epsilon": 10.0, "epsilon": 9.99, "accuracy": 95.0,
              "fid": 12.3, "fid_n_synthetic": 10000, "fid_n_reference": 10000,
              "precision": 0.5, "recall": 0.4, "n_synthetic": 60000,
              "stage_wall_s": {"finetune": 600, "sample": 60, "accuracy": 120, "fid": 30}, "commit": "abc",
              "cores": 2, "command": "dpldm bench quality --dataset mnist --epsilon 10"}
    record_row(path, result)
    record_row(path, {**result, "accuracy": 96.0})
    record_row(path, {**result, "command": "dpldm bench quality --dataset mnist --epsilon 1"})
    text = path.read_text()
    assert "Other text." in text and text.count(QUALITY_TABLE.begin) == text.count(QUALITY_TABLE.end) == 1
    assert len(list((tmp_path / "benchmarks" / "results" / "quality").glob("*.json"))) == 2  # one file per command
    rows = [line for line in text.splitlines() if line.startswith("| mnist")]
    assert len(rows) == 2 and "| 96.0 |" in rows[0] and "| 95.0 |" in rows[1]  # eps 10 replaced, eps 1 added
    assert "12.3 (10,000 vs 10,000)" in rows[0] and "10 / 1 / 2 / 0 min" in rows[0]


def test_sampling_in_parts_equals_one_call_and_resumes(tiny_public_model, tmp_path):
    model = resolve_model(tiny_public_model)
    labels = np.arange(10, dtype=np.int64) % len(model.class_names)
    seeds = image_seeds(3, len(labels))
    cfg = SampleConfig(steps=3, batch_size=4)
    whole, _ = generate(model, labels, seeds, cfg, progress=False)

    parts, rate = generate_in_parts(model, labels, seeds, cfg, tmp_path / "parts", part_size=4, progress=False)
    np.testing.assert_array_equal(parts, whole)
    assert rate is not None and rate > 0

    # Lose the middle part (an interruption): only it is sampled again, and the result is the same.
    (tmp_path / "parts" / "part-0000004-0000008.npz").unlink()
    resumed, _ = generate_in_parts(model, labels, seeds, cfg, tmp_path / "parts", part_size=4, progress=False)
    np.testing.assert_array_equal(resumed, whole)
    loaded, rate = generate_in_parts(model, labels, seeds, cfg, tmp_path / "parts", part_size=4, progress=False)
    np.testing.assert_array_equal(loaded, whole)
    assert rate is None  # nothing sampled

    with pytest.raises(DpldmError, match="other labels or seeds"):
        generate_in_parts(model, labels, seeds + 1, cfg, tmp_path / "parts", part_size=4, progress=False)


def test_cli_names_the_datasets_it_has_configs_for(capsys):
    from dpldm.cli.main import main

    assert main(["bench", "quality", "--dataset", "cifar100", "--epsilon", "1"]) == 2
    assert "no fine-tuning config for dataset 'cifar100'" in capsys.readouterr().err


def test_commit_is_dirty_only_for_changes_to_the_package(tmp_path):
    import subprocess

    from dpldm.bench.quality import git_commit

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    package = tmp_path / "src" / "dpldm"
    package.mkdir(parents=True)
    (package / "code.py").write_text("x = 1\n")
    (tmp_path / "BENCHMARKS.md").write_text("# Benchmarks\n")
    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "first")
    clean = git_commit(package)
    assert clean != "unknown" and not clean.endswith("+dirty")
    (tmp_path / "BENCHMARKS.md").write_text("# Benchmarks\n| a row |\n")  # what a benchmark run writes
    assert git_commit(package) == clean
    (package / "code.py").write_text("x = 2\n")
    assert git_commit(package) == clean + "+dirty"


def test_cifar10_has_a_config_and_resnet20_as_its_stated_classifier(tmp_path):
    from dpldm.bench.quality import DATASETS, default_classifiers, format_row
    from dpldm.config import resolve_config_path

    assert resolve_config_path(DATASETS["cifar10"]).is_file()
    assert default_classifiers("cifar10") == ("resnet20",) and default_classifiers("mnist") == ("cnn",)
    row = {"dataset": "cifar10", "target_epsilon": 10.0, "epsilon": 9.99, "accuracy": 41.25, "fid": 50.0,
           "fid_n_synthetic": 10000, "fid_n_reference": 10000, "precision": None, "recall": None,
           "n_synthetic": 60000, "stage_wall_s": {"finetune": 60, "sample": 60, "accuracy": 60, "fid": 60},
           "commit": "abc", "cores": 2, "command": "dpldm bench quality --dataset cifar10 --epsilon 10",
           "accuracy_selected": {"classifier": "resnet20", "seed": 0, "epoch": 3}}
    assert "| 41.2 (resnet20) |" in format_row(row)  # the header says CNN: a row by another classifier says so
    assert "| 41.2 |" in format_row({**row, "accuracy_selected": {"classifier": "cnn", "seed": 0, "epoch": 3}})


@pytest.mark.slow
def test_the_non_private_twin_runs_the_config_without_noise_or_clipping_and_says_so(settings, tmp_path):
    import dataclasses

    from dpldm.bench.quality import format_row
    from dpldm.cli.bench.quality import summary_line

    twin = dataclasses.replace(settings, epsilon=None, out=tmp_path / "twin")
    result = run_quality(twin, extractor=PooledPixels(), progress=False, say=lambda m: None)
    # Nothing of the twin is releasable: its model and samples have no privacy statement, so all lies in private/.
    assert [p.name for p in (tmp_path / "twin").iterdir()] == ["private"]
    config = yaml.safe_load((tmp_path / "twin" / "private" / "finetune" / "config.yaml").read_text())
    assert config["dp"]["epsilon"] is None and config["dp"]["noise_multiplier"] == 0.0001
    assert config["dp"]["max_grad_norm"] == 10 and config["dp"]["steps"] == 4  # the config's steps, as the row's
    assert result["target_epsilon"] is None and result["epsilon"] > 1e6  # what sigma 1e-4 "spends": nothing private
    assert "| digits | non-private |" in format_row(result) and "digits non-private:" in summary_line(result)


def test_the_committed_results_regenerate_the_committed_table_unchanged(tmp_path, capsys):
    import shutil
    from pathlib import Path

    from dpldm.cli.main import main

    root = Path(__file__).resolve().parent.parent
    shutil.copy(root / "BENCHMARKS.md", tmp_path / "BENCHMARKS.md")
    shutil.copytree(root / "benchmarks", tmp_path / "benchmarks")
    before = (tmp_path / "BENCHMARKS.md").read_text()
    assert main(["bench", "tables", "--benchmarks", str(tmp_path / "BENCHMARKS.md")]) == 0
    out = capsys.readouterr().out
    for table in ("quality", "ablation", "membership", "whitebox"):  # every generated table, from its files
        assert f"{table} table unchanged" in out
        assert list((tmp_path / "benchmarks" / "results" / table).glob("*.json")), table
    assert (tmp_path / "BENCHMARKS.md").read_text() == before
    # A row file edited by hand changes its row, and only it.
    files = sorted((tmp_path / "benchmarks" / "results" / "quality").glob("*.json"))
    row = json.loads(files[0].read_text())
    files[0].write_text(json.dumps({**row, "accuracy": 12.3}))
    assert main(["bench", "tables", "--benchmarks", str(tmp_path / "BENCHMARKS.md")]) == 0
    after = (tmp_path / "BENCHMARKS.md").read_text()
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
    assert len(changed) == 1 and "| 12.3 |" in changed[0][1]
