"""`dpldm bench sample`: sampling speed (images per second) of a model at its native size."""

from __future__ import annotations

import argparse
import json

from dpldm.bench.sampling import SamplingBenchSettings as Settings
from dpldm.cli.common import add_clip_latents, add_parser


def register(subparsers) -> None:
    parser = add_parser(subparsers, "sample", "Images per second of sampling",
                        "Samples --n class-balanced images from a model (default: the shipped Omniglot model, 28x28)\n"
                        "with --sampler (DDIM by default), batch --batch-size, and prints images per second (latent\n"
                        "sampling + decoding), the FLOPs per image (torch's FLOP counter) and their share of this\n"
                        "CPU's peak (a large sgemm, measured in the same run).")
    parser.add_argument("--model", default=Settings.model, help="model folder or shipped model name")
    parser.add_argument("--n", type=int, default=Settings.n, help="images to sample")
    parser.add_argument("--sampler", choices=["ddim", "ddpm", "dpmpp"], default=Settings.sampler,
                        help="reverse process")
    parser.add_argument("--steps", type=int, default=Settings.steps, help="sampler steps")
    parser.add_argument("--batch-size", type=int, default=Settings.batch_size, help="images per batch")
    parser.add_argument("--guidance", type=float, default=Settings.guidance, help="guidance scale (1: no extra pass)")
    add_clip_latents(parser)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default=Settings.device,
                        help="where the model runs (auto: CUDA when present); the peak share is of this CPU's peak")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dpldm.bench.sampling import run_sampling_bench

    result = run_sampling_bench(Settings(model=args.model, n=args.n, sampler=args.sampler, steps=args.steps,
                                         batch_size=args.batch_size, guidance=args.guidance,
                                         clip_latents=args.clip_latents, device=args.device))
    print(json.dumps(result) if args.json else "\n".join(f"{k:14s} {v}" for k, v in result.items()))
    return 0
