"""`dpldm bench fid`: images per second of the two TF-Inception backends, and how far apart their features are."""

from __future__ import annotations

import argparse
import json

from dpldm.bench.fid import FidBenchSettings as Settings
from dpldm.cli.common import add_parser


def register(subparsers) -> None:
    parser = add_parser(subparsers, "fid", "Speed of the ONNX and TorchScript TF-Inception backends (img/s)",
                        description="Extract TF-Inception pool3 features of the first N test images with both "
                        "backends; print images per second (after one warm-up batch) and the max abs feature "
                        "difference. The ONNX file is exported into the cache folder on first use.")
    parser.add_argument("--n", type=int, default=Settings.n, help="images timed per backend")
    parser.add_argument("--batch-size", type=int, default=Settings.batch_size, help="images per forward")
    parser.add_argument("--dataset", default=Settings.dataset, help="where the images come from (its test split)")
    parser.add_argument("--data-root", default=None, help="folder holding the datasets; None: $DPLDM_DATA")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dpldm.bench.fid import run_fid_bench

    result = run_fid_bench(Settings(n=args.n, batch_size=args.batch_size, dataset=args.dataset),
                           data_root=args.data_root)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value}")
    return 0
