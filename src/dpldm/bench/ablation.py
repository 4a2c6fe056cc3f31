"""The paper's central claim, tested: which part of the UNet to fine-tune under DP (`dpldm bench ablation`).

Each variant changes only ``trainable:`` of the fine-tuning config; everything else (privacy budget, batch, epochs,
LR, sampler, sample and FID counts) is the same, so the rows differ in what is trained. A variant is one
``bench quality`` run (the same resumable stages) in OUT/VARIANT. One table goes to BENCHMARKS.md between its
markers: trainable parameters, privacy spent, accuracy, FID, fine-tuning wall time and seconds per DP step.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from dpldm.bench.quality import QualitySettings, run_quality

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
BEGIN = "<!-- dpldm bench ablation: table begins -->"
END = "<!-- dpldm bench ablation: table ends -->"


def run_ablation(base: QualitySettings, variants: list[str], *, say=print, **quality_kwargs) -> dict[str, dict]:
    """Run (or resume) ``bench quality`` per variant in BASE.OUT/VARIANT, with the variant's trainable overrides
    after the shared ones; returns each variant's result. ``quality_kwargs`` go to ``run_quality``."""
    results = {}
    for name in variants:
        say(f"== variant {name}: {VARIANTS[name][0]}")
        settings = replace(base, out=base.out / name, overrides=[*base.overrides, *VARIANTS[name][1]])
        results[name] = run_quality(settings, say=say, **quality_kwargs)
    return results


def format_table(results: dict[str, dict[str, Any]], *, command: str) -> str:
    first = next(iter(results.values()))
    commits = ", ".join(dict.fromkeys(c for r in results.values() for c in r["commit"].split("/")))
    lines = [f"{first['dataset']}, target epsilon {first['target_epsilon']:g}: every variant "
             f"{first['steps']} DP steps at sigma {first['noise_multiplier']:.3f}, q {first['sample_rate']:.4f}; "
             f"{first['n_synthetic']:,} synthetic images; FID {first['fid_n_synthetic']:,} vs "
             f"{first['fid_n_reference']:,}. Commit {commits}, {first['cores']} cores. Command: `{command}`",
             "",
             "| variant | trained | trainable parameters | epsilon spent | CNN accuracy % | FID | "
             "fine-tune wall time | s per DP step |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in results.items():
        wall = r["stage_wall_s"]["finetune"]
        lines.append(f"| {name} | {VARIANTS[name][0]} | {r['trainable_params']:,} "
                     f"({r['trainable_params'] / r['total_params']:.1%}) | {r['epsilon']:.3f} "
                     f"| {r['accuracy']:.1f} | {r['fid']:.1f} | {wall / 60:.1f} min "
                     f"| {wall / max(r['steps'], 1):.2f} |")
    return "\n".join(lines)


def record_table(path: Path, results: dict[str, dict[str, Any]], *, command: str) -> None:
    """Write the table between its markers in ``path`` (a new section at the end when they are missing)."""
    block = f"{BEGIN}\n{format_table(results, command=command)}\n{END}"
    text = path.read_text() if path.is_file() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + f"\n\n## Ablation: what to fine-tune (`dpldm bench ablation`)\n\n{block}\n"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)

