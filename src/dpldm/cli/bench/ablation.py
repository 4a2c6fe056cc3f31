"""`dpldm bench ablation`: which part of the UNet to fine-tune under DP, one `bench quality` run per variant
(dpldm.bench.ablation)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from dpldm.bench.ablation import VARIANTS
from dpldm.bench.quality import DATASETS, QualitySettings
from dpldm.cli.bench.quality import check_args
from dpldm.cli.common import add_clip_latents, add_parser, add_record_options
from dpldm.errors import DpldmError


def register(subparsers) -> None:
    parser = add_parser(subparsers, "ablation", "Which modules to fine-tune: attention depths vs whole UNet vs LoRA",
                        "Runs `bench quality` once per variant of what is fine-tuned (attention from several\n"
                        "depths, the whole UNet, LoRA), all else equal; saves each variant's row under\n"
                        "benchmarks/results/ablation/ and regenerates BENCHMARKS.md's table from those files.\n"
                        "Resumable like `bench quality`. --variants runs a subset (e.g. one per process); a\n"
                        "later run with all variants reuses their results and saves every row (only it records).")
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
    parser.add_argument("--guidance", type=float, default=QualitySettings.guidance,
                        help="classifier-free guidance scale")
    add_clip_latents(parser)
    parser.add_argument("--classifier-epochs", type=int, default=None, help="epochs (default: the recipe's)")
    add_record_options(parser, "table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dpldm.bench.ablation import record_table, run_ablation

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
            say(f"rows saved under benchmarks/results/ablation/, table regenerated in {args.benchmarks}")
    print(json.dumps(results, indent=2) if args.json else "\n".join(summary(name, r) for name, r in results.items()))
    return 0


def summary(name: str, r: dict[str, Any]) -> str:
    return (f"{name}: {r['trainable_params']:,} trainable, epsilon {r['epsilon']:.3f}, accuracy "
            f"{r['accuracy']:.1f}%, FID {r['fid']:.1f}, fine-tune {r['stage_wall_s']['finetune'] / 60:.1f} min")
