"""`dpldm bench ablation` on the tiny public model: variants differ only in what is trained, share the privacy
budget, and each is saved as a row file (benchmarks/results/ablation/) from which the table is generated: a rerun
replaces its rows, other commands' rows stay."""

from __future__ import annotations

import json

from dpldm.bench import ablation
from dpldm.bench.ablation import ABLATION_TABLE, record_table, run_ablation
from dpldm.bench.quality import QualitySettings
from dpldm.bench.tables import regenerate_tables
from test_bench_quality import PooledPixels
from tiny_configs import tiny

# The tiny UNet has fewer transformer blocks than the shipped models: two variants it can hold.
TINY_VARIANTS = {
    "attention-3": ("transformer blocks 3- + class embedder",
                    ["trainable.modules=transformer_blocks", "trainable.from_block=3", "trainable.lora_rank=0"]),
    "whole-unet": ("the whole UNet + class embedder", ["trainable.modules=all", "trainable.lora_rank=0"]),
}


def test_variants_share_the_budget_and_differ_in_what_is_trained(tmp_path, tiny_public_model, monkeypatch):
    monkeypatch.setenv("DPLDM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(ablation, "VARIANTS", TINY_VARIANTS)
    base = QualitySettings(dataset="digits", epsilon=10.0, out=tmp_path / "ablation", config=tiny("tiny_finetune"),
                           overrides=[f"public_model={tiny_public_model}"], n_samples=20, fid_n=20,
                           sample_steps=3, classifier_epochs=1, classifier_image_size=28)
    results = run_ablation(base, list(TINY_VARIANTS), extractor=PooledPixels(), progress=False, say=lambda m: None)

    attention, whole = results["attention-3"], results["whole-unet"]
    assert attention["trainable_params"] < whole["trainable_params"] <= whole["total_params"]
    assert attention["total_params"] == whole["total_params"]
    for key in ("noise_multiplier", "sample_rate", "steps", "epsilon", "n_synthetic"):
        assert attention[key] == whole[key], key
    assert (tmp_path / "ablation" / "attention-3" / "result.json").is_file()

    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\nBefore.\n")
    record_table(path, results, command="dpldm bench ablation --dataset digits --epsilon 10")
    text = path.read_text()
    assert text.count(ABLATION_TABLE.begin) == 1 and text.count(ABLATION_TABLE.end) == 1 and "Before." in text
    assert f"Commit {attention['commit']}," in text
    rows = [line for line in text.splitlines() if line.startswith("| attention-3") or line.startswith("| whole")]
    assert len(rows) == 2 and f"{whole['trainable_params']:,}" in rows[1]
    saved = [json.loads(p.read_text()) for p in (tmp_path / "benchmarks" / "results" / "ablation").glob("*.json")]
    assert sorted(r["variant"] for r in saved) == ["attention-3", "whole-unet"] and not any("out" in r for r in saved)


def fake_result(accuracy: float, commit: str = "abc") -> dict:
    return {"dataset": "digits", "target_epsilon": 10.0, "epsilon": 9.99, "steps": 100, "noise_multiplier": 1.2,
            "sample_rate": 0.05, "n_synthetic": 20, "fid_n_synthetic": 20, "fid_n_reference": 20, "cores": 2,
            "commit": commit, "trainable_params": 10, "total_params": 100, "accuracy": accuracy, "fid": 99.0,
            "stage_wall_s": {"finetune": 120.0}, "command": "", "out": "runs/x"}


def test_a_rerun_replaces_its_rows_other_commands_keep_theirs_and_regenerating_changes_nothing(tmp_path,
                                                                                                monkeypatch):
    monkeypatch.setattr(ablation, "VARIANTS", TINY_VARIANTS)
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\nBefore.\n")
    first = "dpldm bench ablation --dataset digits --epsilon 10"
    second = "dpldm bench ablation --dataset digits --epsilon 10 --set dp.epochs=2"
    record_table(path, {"attention-3": fake_result(11.0), "whole-unet": fake_result(12.0)}, command=first)
    record_table(path, {"attention-3": fake_result(21.0, "def"), "whole-unet": fake_result(22.0)}, command=second)
    record_table(path, {"attention-3": fake_result(13.0), "whole-unet": fake_result(14.0)}, command=first)  # rerun
    assert len(list((tmp_path / "benchmarks" / "results" / "ablation").glob("*.json"))) == 4
    text = path.read_text()
    assert text.count(ABLATION_TABLE.begin) == 1 and text.startswith("# Benchmarks\n\nBefore.\n")
    block = text[text.index(ABLATION_TABLE.begin):text.index(ABLATION_TABLE.end)].split("\n")
    captions = [line for line in block if line.startswith("digits, target epsilon 10")]
    assert [c.endswith(f"Command: `{first}`") for c in captions] == [True, False]  # first recorded, first shown
    assert "Commit def, abc, 2 cores" in captions[1]
    accuracies = [line.split(" | ")[4] for line in block if line.startswith("| attention-3") or
                  line.startswith("| whole")]
    assert accuracies == ["13.0", "14.0", "21.0", "22.0"]  # the rerun replaced its rows in place; the other stays
    # Each command's rows are one table under its caption.
    assert block.count(ABLATION_TABLE.header.split("\n")[0]) == 2

    # The committed way back: the markdown regenerated from the files alone, twice, changes nothing.
    path.write_text(text.replace("| 13.0 |", "| 99.9 |"))
    assert regenerate_tables(path)["ablation"] and path.read_text() == text
    assert not regenerate_tables(path)["ablation"] and path.read_text() == text


def test_cli_refuses_trainable_overrides(capsys):
    from dpldm.cli.main import main

    assert main(["bench", "ablation", "--dataset", "mnist", "--epsilon", "10",
                 "--set", "trainable.from_block=3"]) == 2
    assert "leave trainable.from_block=3 out of --set" in capsys.readouterr().err


def test_every_shipped_variant_fits_the_shipped_models():
    from dpldm.finetune.trainable import TrainableSpec, select_trainable
    from dpldm.public_models import resolve_model

    trained = {}
    for name, (_, overrides) in ablation.VARIANTS.items():
        fields = {o.split("=")[0].removeprefix("trainable."): o.split("=")[1] for o in overrides}
        spec = TrainableSpec(modules=fields["modules"], from_block=int(fields.get("from_block", 1)),
                             lora_rank=int(fields["lora_rank"]))
        spec.validate()
        denoiser = resolve_model("tiny_imagenet").denoiser
        select_trainable(denoiser, spec)
        trained[name] = sum(p.numel() for p in denoiser.parameters() if p.requires_grad)
    # Deeper starts train fewer parameters; LoRA fewer than the blocks it adapts; the whole UNet the most.
    assert trained["lora-8"] < trained["attention-8"] < trained["attention-6"] < trained["attention-1"]
    assert trained["attention-1"] < trained["whole-unet"]
