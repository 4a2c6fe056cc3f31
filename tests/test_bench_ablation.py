"""`dpldm bench ablation` on the tiny public model: variants differ only in what is trained, share the privacy
budget, and land in one table that a rerun replaces."""

from __future__ import annotations

from dpldm.bench import ablation
from dpldm.bench.ablation import BEGIN, END, record_table, run_ablation
from dpldm.bench.quality import QualitySettings
from test_bench_quality import PooledPixels

# The tiny UNet has fewer transformer blocks than the shipped models: two variants it can hold.
TINY_VARIANTS = {
    "attention-3": ("transformer blocks 3- + class embedder",
                    ["trainable.modules=transformer_blocks", "trainable.from_block=3", "trainable.lora_rank=0"]),
    "whole-unet": ("the whole UNet + class embedder", ["trainable.modules=all", "trainable.lora_rank=0"]),
}


def test_variants_share_the_budget_and_differ_in_what_is_trained(tmp_path, tiny_public_model, monkeypatch):
    monkeypatch.setenv("DPLDM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(ablation, "VARIANTS", TINY_VARIANTS)
    base = QualitySettings(dataset="digits", epsilon=10.0, out=tmp_path / "ablation", config="tiny_finetune",
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
    command = "dpldm bench ablation --dataset digits --epsilon 10"
    record_table(path, results, command=command)
    record_table(path, {**results, "whole-unet": {**whole, "accuracy": 12.5}}, command=command)
    text = path.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1 and "Before." in text
    assert f"Commit {attention['commit']}," in text
    rows = [line for line in text.splitlines() if line.startswith("| attention-3") or line.startswith("| whole")]
    assert len(rows) == 2 and f"{whole['trainable_params']:,}" in rows[1]
    assert "| 12.5 |" in rows[1]  # the rerun replaced the table


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
