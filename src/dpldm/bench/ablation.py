"""The paper's central claim, tested: which part of the UNet to fine-tune under DP (`dpldm bench ablation`).

Each variant changes only ``trainable:`` of the fine-tuning config; everything else (privacy budget, batch, epochs,
LR, sampler, sample and FID counts) is the same, so the rows differ in what is trained. A variant is one
``bench quality`` run (the same resumable stages) in OUT/VARIANT. Each variant's result is saved as a row file
under benchmarks/results/ablation/ (``dpldm.results``) and BENCHMARKS.md's table is generated from them, one
captioned table per command: trainable parameters, privacy spent, accuracy, FID, fine-tuning wall time and seconds
per DP step.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from dpldm.bench.quality import QualitySettings, run_quality
from dpldm.results import Table, regenerate, save_result

# name -> (what is trained, overrides of the fine-tuning config's trainable section). Transformer blocks are
# counted in forward order (down path, mid block, up path), so a higher from_block starts deeper in the decoder.
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "attention-8": ("transformer blocks 8-11 + class embedder (the paper's choice: the last ones)",
                    ["trainable.modules=transformer_blocks", "trainable.from_block=8", "trainable.lora_rank=0"]),
    "attention-6": ("transformer blocks 6-11 (the whole up path) + class embedder",
                    ["trainable.modules=transformer_blocks", "trainable.from_block=6", "trainable.lora_rank=0"]),
    "attention-1": ("all transformer blocks 1-11 + class embedder",
                    ["trainable.modules=transformer_blocks", "trainable.from_block=1", "trainable.lora_rank=0"]),
    "whole-unet": ("the whole UNet + class embedder (the baseline the paper argues against)",
                   ["trainable.modules=all", "trainable.lora_rank=0"]),
    "lora-8": ("LoRA rank 4 on the attention projections of blocks 8-11 + class embedder",
               ["trainable.modules=transformer_blocks", "trainable.from_block=8", "trainable.lora_rank=4"]),
}


def run_ablation(base: QualitySettings, variants: list[str], *, say=print, **quality_kwargs) -> dict[str, dict]:
    """Run (or resume) ``bench quality`` per variant in BASE.OUT/VARIANT, with the variant's trainable overrides
    after the shared ones; returns each variant's result. ``quality_kwargs`` go to ``run_quality``."""
    results = {}
    for name in variants:
        say(f"== variant {name}: {VARIANTS[name][0]}")
        settings = replace(base, out=base.out / name, overrides=[*base.overrides, *VARIANTS[name][1]])
        results[name] = run_quality(settings, say=say, **quality_kwargs)
    return results


def caption(results: list[dict[str, Any]]) -> str:
    """The line above one ablation command's table: what every variant shares, and the command."""
    first = results[0]
    commits = ", ".join(dict.fromkeys(c for r in results for c in r["commit"].split("/")))
    return (f"{first['dataset']}, target epsilon {first['target_epsilon']:g}: every variant "
            f"{first['steps']} DP steps at sigma {first['noise_multiplier']:.3f}, q {first['sample_rate']:.4f}; "
            f"{first['n_synthetic']:,} synthetic images; FID {first['fid_n_synthetic']:,} vs "
            f"{first['fid_n_reference']:,}. Commit {commits}, {first['cores']} cores. Command: `{first['command']}`")


def format_row(r: dict[str, Any]) -> str:
    wall = r["stage_wall_s"]["finetune"]
    return (f"| {r['variant']} | {r['trained']} | {r['trainable_params']:,} "
            f"({r['trainable_params'] / r['total_params']:.1%}) | {r['epsilon']:.3f} "
            f"| {r['accuracy']:.1f} | {r['fid']:.1f} | {wall / 60:.1f} min "
            f"| {wall / max(r['steps'], 1):.2f} |")


TABLE_HEADER = ("| variant | trained | trainable parameters | epsilon spent | CNN accuracy % | FID | "
                "fine-tune wall time | s per DP step |\n"
                "| --- | --- | --- | --- | --- | --- | --- | --- |")
# One row per variant of an ablation command (key: command and variant), each command's rows under its caption.
ABLATION_TABLE = Table("ablation", "Ablation: what to fine-tune (`dpldm bench ablation`)", TABLE_HEADER, format_row,
                       key=("command", "variant"), caption=caption)


def record_table(path: Path, results: dict[str, dict[str, Any]], *, command: str) -> list[Path]:
    """Save each variant's result (with its name, what it trains and ``command``) as a row file under
    benchmarks/results/ablation/ beside ``path`` (rerunning the command replaces its rows) and regenerate the
    ablation table of ``path``; returns the row files."""
    saved = [save_result(path, ABLATION_TABLE, {**{k: v for k, v in r.items() if k != "out"}, "bench": "ablation",
                                                "variant": name, "trained": VARIANTS[name][0], "command": command})
             for name, r in results.items()]
    regenerate(path, ABLATION_TABLE)
    return saved
