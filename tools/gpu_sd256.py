"""A few DP-SGD steps and a sample at 256x256 with a Stable-Diffusion-1.5-sized model, timed on a GPU.

The model is a random-weight one with SD 1.5's architecture (860M-parameter UNet, CLIP ViT-L text encoder, VAE f8),
written in the diffusers SD layout by ``dpldm.sd_folder.write_random_sd_folder``, or a real SD v1.x/v2.x-base folder
given with --model. The private set is synthetic: coloured shapes at 256x256 with captions, written to a temporary
captioned image folder. The steps run through `dpldm finetune`'s own code (``dpldm.finetune.stage.finetune``):
latents cached once, bf16 autocast, virtual batches of --physical-batch, the frozen ResNets checkpointed
(train.gradient_checkpointing), the paper's transformer blocks from 9 on.
Prints seconds per DP step (after the first), the peak GPU memory, and the sampling time.

    python tools/gpu_sd256.py                                  # random SD-1.5-sized model, 4 DP steps, batch 16
    python tools/gpu_sd256.py --model /path/to/sd-v1-5 --steps 6 --batch 32 --physical-batch 8 --json
    python tools/gpu_sd256.py --preset tiny --device cpu --image-size 16   # the same path, seconds, on a CPU
Without a CUDA device (and --device cuda, the default) it prints what it would run and exits 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="a Stable-Diffusion-format folder (default: a random SD-1.5-sized one)")
    p.add_argument("--preset", default="sd15", choices=["sd15", "tiny"], help="size of the random model")
    p.add_argument("--image-size", type=int, default=256)
    p.add_argument("--steps", type=int, default=4, help="logical DP steps")
    p.add_argument("--batch", type=int, default=16, help="expected logical batch size")
    p.add_argument("--physical-batch", type=int, default=8, help="examples per forward/backward")
    p.add_argument("--images", type=int, default=256, help="synthetic private captioned images")
    p.add_argument("--from-block", type=int, default=9, help="first trained transformer block")
    p.add_argument("--lora-rank", type=int, default=0)
    p.add_argument("--sample-steps", type=int, default=25)
    p.add_argument("--device", default="cuda")
    p.add_argument("--precision", default="bf16", choices=["bf16", "fp32"])
    p.add_argument("--no-gradient-checkpointing", dest="gradient_checkpointing", action="store_false",
                   help="keep the frozen ResNets' activations instead of recomputing them (more memory)")
    p.add_argument("--out", help="keep the run here (default: a temporary folder)")
    p.add_argument("--json", action="store_true")
    return p.parse_args(argv)


def plan_text(args: argparse.Namespace) -> str:
    model = args.model or f"a random {args.preset} model written in the SD layout"
    return (f"would fine-tune {model} at {args.image_size}x{args.image_size} on {args.images} synthetic captioned "
            f"images: {args.steps} DP steps, expected batch {args.batch} in physical batches of "
            f"{args.physical_batch}, transformer blocks from {args.from_block}"
            f"{f' (LoRA r={args.lora_rank})' if args.lora_rank else ''}, {args.precision} on {args.device}"
            f"{', frozen ResNets checkpointed' if args.gradient_checkpointing else ''}; then "
            f"sample 2 prompts x 2 images with {args.sample_steps} DDIM steps, guidance 5")


def write_private_set(folder: Path, n: int, size: int) -> None:
    """Coloured squares and discs with captions saying so: a captioned image folder (dpldm.data.captions)."""
    import csv

    import numpy as np
    from PIL import Image, ImageDraw

    colours = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (40, 60, 220), "yellow": (230, 210, 40)}
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        name, rgb = list(colours.items())[i % len(colours)]
        shape = ("square", "disc")[(i // len(colours)) % 2]
        img = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(0, 60, 3)))
        r = int(size * rng.uniform(0.15, 0.35))
        cx, cy = (int(v) for v in rng.integers(r, size - r, 2))
        (ImageDraw.Draw(img).rectangle if shape == "square" else ImageDraw.Draw(img).ellipse)(
            (cx - r, cy - r, cx + r, cy + r), fill=rgb)
        img.save(folder / f"{i:05d}.png")
        rows.append((f"{i:05d}.png", f"a photo of a {name} {shape}"))
    with open(folder / "captions.csv", "w", newline="") as f:
        csv.writer(f).writerows([("file", "text"), *rows])


def run(args: argparse.Namespace, work: Path) -> dict:
    import torch

    from dpldm.config import from_dict
    from dpldm.finetune.stage import FinetuneConfig, finetune
    from dpldm.sd_folder import write_random_sd_folder
    from dpldm.synthesis import SampleConfig, run_sampling

    began = time.time()
    model = Path(args.model) if args.model else write_random_sd_folder(work / "public", preset=args.preset,
                                                                        image_size=args.image_size)
    write_s = time.time() - began
    private = work / "private_images"
    private.mkdir(parents=True, exist_ok=True)
    write_private_set(private, args.images, args.image_size)
    cfg = from_dict(FinetuneConfig, {
        "public_model": str(model), "holdout_validation": False, "out_dir": str(work / "run"),
        "data": {"name": "captions", "split": "all", "image_size": args.image_size, "channels": 3,
                 "options": {"path": str(private)}},
        "trainable": {"modules": "transformer_blocks", "from_block": args.from_block, "lora_rank": args.lora_rank},
        "dp": {"epsilon": 10.0, "delta": 1e-5, "max_grad_norm": 1.0, "expected_batch_size": args.batch,
               "steps": args.steps, "max_physical_batch": args.physical_batch},
        "train": {"lr": 1e-4, "log_every": 1, "checkpoint_every": 10 ** 6, "device": args.device,
                  "precision": args.precision, "gradient_checkpointing": args.gradient_checkpointing},
        "budget": {"ledger": False}})
    cuda = args.device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    summary = finetune(cfg, progress=False)
    log = [json.loads(line) for line in (work / "run" / "private" / "log.jsonl").read_text().splitlines()]
    walls = [row["wall_s"] for row in log]
    s_per_step = (walls[-1] - walls[0]) / (len(walls) - 1) if len(walls) > 1 else walls[-1]
    peak_train = torch.cuda.max_memory_allocated() / 2 ** 30 if cuda else None
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    began = time.time()
    run_sampling(SampleConfig(model=str(work / "run" / "model"), out_dir=str(work / "samples"), n_per_class=2,
                              prompts=["a photo of a red square", "a photo of a blue disc"], steps=args.sample_steps,
                              guidance_scale=5.0, batch_size=4, device=args.device), progress=False)
    sample_s = time.time() - began
    return {"model": str(args.model or f"random {args.preset}"), "image_size": args.image_size,
            "device": args.device, "precision": args.precision, "steps": args.steps, "batch": args.batch,
            "gradient_checkpointing": args.gradient_checkpointing,
            "physical_batch": args.physical_batch, "trainable_params": summary["trainable_params"],
            "total_params": summary["total_params"], "s_per_dp_step": round(s_per_step, 3),
            "peak_gpu_gib_train": None if peak_train is None else round(peak_train, 2),
            "sample_s_4_images": round(sample_s, 2),
            "peak_gpu_gib_sample": round(torch.cuda.max_memory_allocated() / 2 ** 30, 2) if cuda else None,
            "write_model_s": round(write_s, 1), "samples": str(work / "samples" / "samples.png")}


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            print(f"no CUDA device here: {plan_text(args)}")
            return 0
    print(plan_text(args).replace("would fine-tune", "fine-tuning"), file=sys.stderr)
    if args.out:
        row = run(args, Path(args.out))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            row = run(args, Path(tmp))
    print(json.dumps(row) if args.json else "\n".join(f"{k}: {v}" for k, v in row.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
