"""`dpldm bench quality`: one DPImageBench row, end to end, from the shipped public model (dpldm.bench.quality)."""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path
from typing import Any

from dpldm.bench.quality import DATASETS, QualitySettings, default_classifiers
from dpldm.cli.common import add_clip_latents, add_parser, add_record_options, run_and_record
from dpldm.errors import DpldmError


def register(subparsers) -> None:
    parser = add_parser(subparsers, "quality", "One benchmark row: DP fine-tune, sample, accuracy, FID",
                        "From the shipped public model: DP fine-tuning on the private train split, class-balanced\n"
                        "sampling, downstream accuracy (one classifier epoch chosen on the private validation\n"
                        "split with Laplace noise) and FID (N synthetic against N private-train images).\n"
                        "Rerunning the same command resumes: finished stages are skipped, fine-tuning and\n"
                        "sampling continue where they stopped. Writes OUT/result.json and a row in BENCHMARKS.md.")
    parser.add_argument("--dataset", required=True, help=f"private dataset ({', '.join(DATASETS)})")
    privacy = parser.add_mutually_exclusive_group(required=True)
    privacy.add_argument("--epsilon", type=float, help="target epsilon of the fine-tuning")
    privacy.add_argument("--non-private", action="store_true",
                         help="the non-private twin: the config's steps and batch without noise or clipping "
                              "(NOT private; for measuring what privacy costs)")
    parser.add_argument("--out", default=None, help="run folder (default: runs/bench/DATASET-epsEPSILON)")
    parser.add_argument("--config", default=None, help="fine-tuning config (default: DATASET_finetune)")
    parser.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE",
                        help="overrides of the fine-tuning config, e.g. dp.max_grad_norm=0.001")
    parser.add_argument("--n-samples", type=int, default=QualitySettings.n_samples,
                        help="synthetic images, class-balanced")
    parser.add_argument("--fid-n", type=int, default=QualitySettings.fid_n, help="images on each side of FID")
    parser.add_argument("--sample-steps", type=int, default=QualitySettings.sample_steps, help="DDIM steps")
    parser.add_argument("--guidance", type=float, default=QualitySettings.guidance,
                        help="classifier-free guidance scale")
    add_clip_latents(parser)
    parser.add_argument("--classifiers", nargs="+", default=None,
                        help="downstream classifiers (default: resnet20 for cifar10, cnn for the others)")
    parser.add_argument("--classifier-epochs", type=int, default=None, help="epochs (default: the recipe's)")
    parser.add_argument("--features", default=QualitySettings.features, choices=["onnx", "torchscript"],
                        help="TF-Inception backend")
    add_record_options(parser)
    parser.set_defaults(func=run)


def check_args(args: argparse.Namespace) -> None:
    """The checks every bench built on ``run_quality`` makes of its arguments before any work starts."""
    if args.config is None and args.dataset not in DATASETS:
        raise DpldmError(f"no fine-tuning config for dataset {args.dataset!r}; pass --config, or choose one of "
                         f"{', '.join(DATASETS)}")
    if args.n_samples < 1 or args.fid_n < 2:
        raise DpldmError("--n-samples must be at least 1 and --fid-n at least 2")


def run(args: argparse.Namespace) -> int:
    from dpldm.bench.quality import record_row, run_quality

    check_args(args)
    epsilon = None if args.non_private else args.epsilon
    out = Path(args.out or f"runs/bench/{args.dataset}-" + ("nonprivate" if epsilon is None else f"eps{epsilon:g}"))
    settings = QualitySettings(dataset=args.dataset, epsilon=epsilon, out=out, config=args.config,
                               overrides=list(args.overrides), n_samples=args.n_samples, fid_n=args.fid_n,
                               sample_steps=args.sample_steps, guidance=args.guidance,
                               clip_latents=args.clip_latents,
                               classifiers=tuple(args.classifiers or default_classifiers(args.dataset)),
                               classifier_epochs=args.classifier_epochs,
                               features=args.features)
    run = partial(run_quality, settings, data_root=args.data_root, download=args.download)
    return run_and_record(args, run, record_row, summary_line)


def summary_line(result: dict[str, Any]) -> str:
    privacy = "non-private" if result["target_epsilon"] is None else f"epsilon {result['epsilon']:.3f}"
    return (f"{result['dataset']} {privacy}: accuracy {result['accuracy']:.1f}% "
            f"({result['accuracy_selected']['classifier']}), FID {result['fid']:.1f} "
            f"({result['fid_n_synthetic']} vs {result['fid_n_reference']}); "
            f"result: {result['out']}/result.json")
