"""`dpldm bench ablation`: the paper's central claim, tested: which part of the UNet to fine-tune under DP.

Each variant changes only ``trainable:`` of the fine-tuning config; everything else (privacy budget, batch, epochs,
LR, sampler, sample and FID counts) is the same, so the rows differ in what is trained. A variant is one
``bench quality`` run (the same resumable stages) in OUT/VARIANT. One table goes to BENCHMARKS.md between its
markers: trainable parameters, privacy spent, accuracy, FID, fine-tuning wall time and seconds per DP step.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from dpldm.bench.quality import DATASETS, QualitySettings, check_args, run_quality
from dpldm.cli.common import add_clip_latents, add_data_root, add_parser
from dpldm.errors import DpldmError

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


def register(subparsers) -> None:
    parser = add_parser(subparsers, "ablation", "Which modules to fine-tune: attention depths vs whole UNet vs LoRA",
                        "Runs `bench quality` once per variant of what is fine-tuned (attention from several\n"
                        "depths, the whole UNet, LoRA), all else equal, and writes one table to BENCHMARKS.md.\n"
                        "Resumable like `bench quality`. --variants runs a subset (e.g. one per process); a\n"
                        "later run with all variants reuses their results and writes the whole table.")
    parser.add_argument("--dataset", required=True, help=f"private dataset ({', '.join(DATASETS)})")
    parser.add_argument("--epsilon", type=float, required=True, help="target epsilon of every fine-tuning")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS),
                        help="variants to run (default: all)")
    parser.add_argument("--out", default=None, help="run folder (default: runs/bench/ablation-DATASET-epsEPSILON)")
    parser.add_argument("--config", default=None, help="fine-tuning config (default: DATASET_finetune)")
    parser.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE",
                        help="overrides of the fine-tuning config shared by all variants, e.g. dp.epochs=1")
    parser.add_argument("--n-samples", type=int, default=2_000, help="synthetic images per variant")
    parser.add_argument("--fid-n", type=int, default=2_000, help="images on each side of FID")
    parser.add_argument("--guidance", type=float, default=3.0, help="classifier-free guidance scale")
    add_clip_latents(parser)
    parser.add_argument("--classifier-epochs", type=int, default=None, help="epochs (default: the recipe's)")
    parser.add_argument("--benchmarks", default="BENCHMARKS.md", help="markdown file the table is written to")
    parser.add_argument("--no-record", action="store_true", help="do not write the table to --benchmarks")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    add_data_root(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_args(args)
    trainable_set = [o for o in args.overrides if o.split("=", 1)[0].startswith("trainable.")]
    if trainable_set:
        raise DpldmError(f"the variants set trainable.*; leave {', '.join(trainable_set)} out of --set")
    base = QualitySettings(dataset=args.dataset, epsilon=args.epsilon,
                           out=Path(args.out or f"runs/bench/ablation-{args.dataset}-eps{args.epsilon:g}"),
                           config=args.config, overrides=list(args.overrides), n_samples=args.n_samples,
                           fid_n=args.fid_n, guidance=args.guidance, clip_latents=args.clip_latents,
                           classifier_epochs=args.classifier_epochs)
    say = (lambda message: print(message, file=sys.stderr)) if args.json else print
    results = run_ablation(base, args.variants, data_root=args.data_root, download=args.download, say=say)
    command = "dpldm " + shlex.join(sys.argv[1:])
    if not args.no_record:
        if set(args.variants) != set(VARIANTS):
            say("not writing the table: it needs every variant (rerun without --variants; finished ones are reused)")
        else:
            record_table(Path(args.benchmarks), results, command=command)
            say(f"table written to {args.benchmarks}")
    print(json.dumps(results, indent=2) if args.json else "\n".join(summary(name, r) for name, r in results.items()))
    return 0


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


def summary(name: str, r: dict[str, Any]) -> str:
    return (f"{name}: {r['trainable_params']:,} trainable, epsilon {r['epsilon']:.3f}, accuracy "
            f"{r['accuracy']:.1f}%, FID {r['fid']:.1f}, fine-tune {r['stage_wall_s']['finetune'] / 60:.1f} min")
