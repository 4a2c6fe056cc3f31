"""`dpldm bench sample`: sampling speed (images per second) of a model at its native size."""

from __future__ import annotations

import json

from dpldm.bench.flops import count_flops, efficiency, peak_flops
from dpldm.cli.common import add_clip_latents, add_parser


def register(subparsers) -> None:
    parser = add_parser(subparsers, "sample", "Images per second of sampling",
                        "Samples --n class-balanced images from a model (default: the shipped Omniglot model, 28x28)\n"
                        "with --sampler (DDIM by default), batch --batch-size, and prints images per second (latent\n"
                        "sampling + decoding), the FLOPs per image (torch's FLOP counter) and their share of this\n"
                        "CPU's peak (a large sgemm, measured in the same run).")
    parser.add_argument("--model", default="omniglot", help="model folder or shipped model name")
    parser.add_argument("--n", type=int, default=500, help="images to sample")
    parser.add_argument("--sampler", choices=["ddim", "ddpm", "dpmpp"], default="ddim", help="reverse process")
    parser.add_argument("--steps", type=int, default=50, help="sampler steps")
    parser.add_argument("--batch-size", type=int, default=500, help="images per batch")
    parser.add_argument("--guidance", type=float, default=1.0, help="guidance scale (1: no extra pass)")
    add_clip_latents(parser)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu",
                        help="where the model runs (auto: CUDA when present); the peak share is of this CPU's peak")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args) -> int:
    import numpy as np
    import torch

    from dpldm.synthesis import SampleConfig, generate, image_seeds, load_for_sampling

    # The sampling stage's model set-up; the images stay in memory (only the speed is measured), so `generate`.
    cfg = SampleConfig(model=args.model, sampler=args.sampler, steps=args.steps, batch_size=args.batch_size,
                       guidance_scale=args.guidance, clip_latents=args.clip_latents, device=args.device)
    model = load_for_sampling(cfg)
    labels = np.arange(args.n, dtype=np.int64) % len(model.class_names)
    _, rate = generate(model, labels, image_seeds(0, args.n), cfg, progress=False)
    # FLOPs per image, counted on a small batch of the same sampler (they do not depend on the batch size).
    probe = min(args.n, 10)
    flops = count_flops(lambda: generate(model, labels[:probe], image_seeds(0, probe), cfg, progress=False)) / probe
    result = {"model": args.model, "image_size": model.image_size, "images": args.n, "sampler": args.sampler,
              "steps": args.steps,
              "batch_size": args.batch_size, "guidance": args.guidance,
              "clip_latents": args.clip_latents, "device": next(model.denoiser.parameters()).device.type,
              "threads": torch.get_num_threads(),
              "images_per_s": round(rate, 2), "peak_gflop_per_s": round(peak_flops() / 1e9, 1)}
    result.update(efficiency(int(flops * rate), 1.0, result["peak_gflop_per_s"] * 1e9))
    result["gflop_per_image"] = round(flops / 1e9, 4)
    del result["gflop"]  # per second of sampling, not per image: the line above names it
    print(json.dumps(result) if args.json else "\n".join(f"{k:14s} {v}" for k, v in result.items()))
    return 0
