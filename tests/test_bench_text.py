"""`dpldm bench text` on the tiny text model, through the CLI: every stage runs, a rerun resumes, the prompts come
from the held-out templates, the row lands in a generated table, and the judge's non-DP numbers stay in private/.
Prompt accuracy against a one-image-at-a-time twin."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dpldm.bench.text import TEXT_TABLE
from dpldm.cli.main import main
from dpldm.data.images import LabelledImages
from dpldm.data.label_captions import HELDOUT_TEMPLATES, TEMPLATES
from dpldm.errors import DpldmError
from dpldm.evaluation.prompt_accuracy import prompt_accuracy, prompt_classes
from test_bench_quality import PooledPixels
from tiny_configs import tiny


@pytest.fixture
def pooled_fid(monkeypatch, tmp_path):
    """FID features from pooled pixels instead of Inception, and a fresh cache."""
    from dpldm.evaluation import backends

    monkeypatch.setenv("DPLDM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(backends, "inception_backend", lambda *args, **kwargs: PooledPixels())


def test_bench_text_runs_every_stage_records_its_row_and_resumes(tiny_text_model, tmp_path, capsys, pooled_fid,
                                                                 sentinel_counts):
    out, markdown = tmp_path / "run", tmp_path / "BENCHMARKS.md"
    markdown.write_text("# Benchmarks\n\nNarrative.\n")
    command = ["bench", "text", "--epsilon", "10", "--config", tiny("tiny_text_finetune"),
               "--set", f"public_model={tiny_text_model}", "--pretrain-config", "none", "--out", str(out),
               "--n-per-prompt", "2", "--prompts-per-class", "1", "--sampler", "ddim", "--sample-steps", "3",
               "--classifier-epochs", "1", "--fid-n", "20", "--benchmarks", str(markdown), "--json"]
    assert main(command) == 0
    printed = capsys.readouterr()
    result = json.loads(printed.out)
    assert result["epsilon"] <= 10.0 and result["n_synthetic"] == 20 and len(result["prompts"]) == 10
    assert 0 <= result["prompt_accuracy"] <= 100 and 0 <= result["accuracy"] <= 100 and np.isfinite(result["fid"])
    assert set(result["stage_wall_s"]) == {"public", "finetune", "sample", "accuracy", "prompt_accuracy", "fid"}
    assert "NOT differentially private" in result["prompt_accuracy_privacy"]
    # Prompts from the held-out templates only, one per class in class order; no training caption is among them.
    assert all(any(t.split("{")[0] and p.startswith(t.split("{")[0]) for t in HELDOUT_TEMPLATES)
               for p in result["prompts"])
    assert "seven" in result["prompts"][7] and not any(p.startswith(("a photo of", "an image of")) for p in
                                                       result["prompts"])
    assert not set(TEMPLATES) & set(HELDOUT_TEMPLATES)
    with np.load(out / "samples.npz") as by_prompt, np.load(out / "samples_by_class.npz") as by_class:
        assert list(by_prompt["class_names"]) == result["prompts"]  # the grid names each row by its prompt
        assert np.array_equal(by_class["labels"], by_prompt["labels"])  # prompt i names class i here
        assert np.array_equal(by_class["images"], by_prompt["images"])
    assert (out / "samples.png").is_file()
    # The judge's own accuracy (a non-DP statistic of private data) is in private/ only; the selection's
    # validation counts are nowhere.
    assert json.loads((out / "private" / "judge.json").read_text())["n_test"] > 0
    sentinel_counts.assert_absent(printed.out, printed.err, folders=(out, tmp_path / "benchmarks"))
    # The row, generated from its committed JSON; `bench tables` regenerates it unchanged.
    text = markdown.read_text()
    assert "Narrative." in text and text.count(TEXT_TABLE.begin) == 1
    rows = [line for line in text.splitlines() if line.startswith("| digits | 10 (")]
    assert len(rows) == 1 and f"| {result['prompt_accuracy']:.1f} |" in rows[0]
    assert main(["bench", "tables", "--benchmarks", str(markdown)]) == 0 and markdown.read_text() == text

    # A rerun resumes: every stage is done earlier, the numbers are the same.
    capsys.readouterr()
    assert main(command) == 0
    printed = capsys.readouterr()
    assert printed.err.count("done earlier") == 6 and json.loads(printed.out)["fid"] == result["fid"]

    # `dpldm evaluate prompts` judges the same samples as the bench did (same judge, same images).
    assert main(["evaluate", "prompts", "--synthetic", str(out / "samples.npz"), "--dataset", "digits",
                 "--model", str(out / "finetune"), "--epochs", "1", "--json"]) == 0
    judged = json.loads(capsys.readouterr().out)
    assert judged["prompt_accuracy"] == result["prompt_accuracy"] and judged["prompt_classes"] == list(range(10))
    assert "NOT differentially private" in judged["privacy"] and judged["judge"]["n_test"] > 0


def test_bench_text_refuses_a_class_conditional_public_model(tiny_public_model, tmp_path, capsys, pooled_fid):
    assert main(["bench", "text", "--epsilon", "10", "--config", tiny("tiny_text_finetune"),
                 "--set", f"public_model={tiny_public_model}", "--pretrain-config", "none",
                 "--out", str(tmp_path / "run"), "--no-record"]) == 2
    assert "not text-conditional" in capsys.readouterr().err


def test_prompt_accuracy_matches_a_loop_over_images():
    rng = np.random.default_rng(0)
    prompts = ["a drawing of a small handwritten zero", "this is a one", "a close-up of a bold handwritten zero"]
    prompt_classes = [0, 1, 0]
    labels = rng.integers(3, size=60)
    predicted = rng.integers(2, size=60)
    samples = LabelledImages(np.zeros((60, 8, 8), np.uint8), labels, tuple(prompts), "synthetic")
    got = prompt_accuracy(samples, prompts, prompt_classes, predicted, templates=HELDOUT_TEMPLATES)

    hits = [predicted[i] == prompt_classes[labels[i]] for i in range(60)]
    assert got["prompt_accuracy"] == round(100.0 * sum(hits) / 60, 2) and got["n_images"] == 60
    for c in (0, 1):
        mine = [h for i, h in enumerate(hits) if prompt_classes[labels[i]] == c]
        assert got["by_class"][c] == round(100.0 * sum(mine) / len(mine), 1)
    for k, template in enumerate(HELDOUT_TEMPLATES):
        mine = [h for i, h in enumerate(hits) if labels[i] == k]  # prompt k was made from template k
        assert got["by_template"][template] == round(100.0 * sum(mine) / len(mine), 1)


def test_prompt_classes_are_read_from_the_class_words():
    digits = tuple("0123456789")
    assert prompt_classes(["a drawing of a thin handwritten seven", "this is a one", "Zero, bold"], digits) == [7, 1, 0]
    with pytest.raises(DpldmError, match="names no class"):
        prompt_classes(["a drawing of a cat"], digits)
    with pytest.raises(DpldmError, match="more than one class"):
        prompt_classes(["a seven next to a one"], digits)
    assert prompt_classes(["a photo of a dark ankle boot"], ("Sandal", "Ankle boot", "Bag")) == [1]
