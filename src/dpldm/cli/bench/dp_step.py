"""`dpldm bench dp-step`: the cost of a DP-SGD step against a non-private one, and attention-only against full."""

from __future__ import annotations

import argparse
import json

from dpldm.bench.dp_step import DpStepSettings as Settings
from dpldm.cli.common import add_parser


def register(subparsers) -> None:
    parser = add_parser(subparsers, "dp-step", "Time a DP-SGD step against a non-private step",
                        "Times one logical step (batch B, 7x7x3 latents, the Omniglot-shaped UNet with random\n"
                        "weights): non-private (mean loss, backward, AdamW) and DP-SGD (per-example gradients by\n"
                        "opacus hooks, clipping, noise, AdamW) on the same attention-only trainable set, and a\n"
                        "DP-SGD step of the whole UNet; and the time encoding the batch (28x28 -> 7x7x3) would add\n"
                        "to each step without the latent cache. Prints medians, ratios, examples/s, the FLOPs of each\n"
                        "step (torch's FLOP counter) and their share of this CPU's peak (a large sgemm, same run).\n"
                        "--model times a shipped model's denoiser (e.g. tiny_imagenet, the Fashion-MNIST config's).")
    parser.add_argument("--batch-size", type=int, default=Settings.batch_size, help="examples per step")
    parser.add_argument("--repeats", type=int, default=Settings.repeats,
                        help="timed steps per variant (after one warm-up)")
    parser.add_argument("--from-block", type=int, default=Settings.from_block, help="first trained transformer block")
    parser.add_argument("--threads", type=int, default=Settings.threads, help="torch threads (0: default)")
    parser.add_argument("--model", default=Settings.model,
                        help="a shipped model's name or a model folder: time its denoiser (default: a random "
                             "Omniglot-shaped UNet on 7x7x3 latents)")
    parser.add_argument("--profile", type=int, default=Settings.profile, metavar="K",
                        help="also print the K operators that take most of the DP step's time (torch profiler)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dpldm.bench.dp_step import run_dp_step

    result, profile = run_dp_step(Settings(batch_size=args.batch_size, repeats=args.repeats,
                                           from_block=args.from_block, threads=args.threads, model=args.model,
                                           profile=args.profile))
    if profile is not None:
        print(profile)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:28s} {value}")
    return 0
