"""`dpldm sample`: labelled synthetic images from a model folder (the sampling stage, ``dpldm.synthesis``)."""

from __future__ import annotations

import argparse
import json

from dpldm.cli.common import (add_clip_latents, add_config_options, add_parser, finite_float, positive_int,
                              print_dry_run, resolve_config_path)

# flag dest -> SampleConfig key; a flag given on the command line overrides the config and --set.
FLAGS = {"model": "model", "out": "out_dir", "n_per_class": "n_per_class", "sampler": "sampler", "steps": "steps",
         "eta": "eta", "guidance": "guidance_scale", "clip_latents": "clip_latents", "seed": "seed",
         "batch_size": "batch_size", "classes": "classes", "device": "device", "compile": "compile",
         "prompt": "prompts"}


def register(subparsers) -> None:
    parser = add_parser(subparsers, "sample", "Sample labelled synthetic images from a model",
                        "Sample a class-balanced labelled set from a model folder (model.json + weights).\n"
                        "Writes OUT/samples.npz (uint8 images, int64 labels), OUT/samples.png (one row per\n"
                        "class) and OUT/samples.yaml (the settings). Image i uses seed SEED*1000003+i, so it does\n"
                        "not depend on the batch size or the device. Samples in OUT made with other settings (or\n"
                        "another model) are never replaced: that is an error naming what changed.\n"
                        "Settings: --config (default: SampleConfig's defaults), then --set, then the flags below;\n"
                        "a flag not given leaves the config's value.")
    add_config_options(parser, None)
    S = argparse.SUPPRESS  # an absent flag leaves the config's value
    parser.add_argument("--model", default=S, help="model folder, or a shipped public model's name (config: model)")
    parser.add_argument("--out", default=S, help="output folder (config: out_dir)")
    parser.add_argument("--n-per-class", type=positive_int, default=S, help="images per class (default 10)")
    parser.add_argument("--sampler", choices=["ddim", "ddpm", "dpmpp"], default=S,
                        help="reverse process (default ddim; dpmpp: DPM-Solver++ 2M, good at about 20 steps)")
    parser.add_argument("--steps", type=positive_int, default=S, help="sampler steps (default 50)")
    parser.add_argument("--eta", type=finite_float, default=S, help="DDIM eta (default 0)")
    parser.add_argument("--guidance", type=finite_float, default=S,
                        help="classifier-free guidance scale (config: guidance_scale; default 1: none)")
    add_clip_latents(parser, default=S)
    parser.add_argument("--seed", type=int, default=S, help="base seed (default 0)")
    parser.add_argument("--batch-size", type=positive_int, default=S, help="images per batch (default 500)")
    parser.add_argument("--classes", type=int, nargs="+", default=S, help="only these class indices")
    parser.add_argument("--prompt", action="append", default=S, metavar="TEXT",
                        help="text-conditional models: a caption to draw --n-per-class images of (repeat for more; "
                             "config: prompts)")
    parser.add_argument("--prompts", dest="prompts_file", default=S, metavar="FILE",
                        help="text-conditional models: a file of captions, one per line (blank lines skipped), "
                             "after any --prompt")
    parser.add_argument("--device", default=S,
                        help="where the model runs: auto (default: CUDA when present), cpu, cuda or cuda:N; does "
                             "not choose the images")
    parser.add_argument("--compile", action="store_true", default=S,
                        help="torch.compile the denoiser: faster steps after minutes of compiling (for thousands of "
                             "images); the images agree with eager ones to float rounding")
    parser.set_defaults(func=run)


def load_sample_config(args: argparse.Namespace):
    """--config, then --set overrides, then the flags given (typed by argparse, so a path is never read as YAML)."""
    from dpldm.config import apply_overrides, from_dict, read_yaml
    from dpldm.synthesis import SampleConfig

    path = resolve_config_path(args.config)
    data = apply_overrides(read_yaml(path) if path is not None else {}, list(args.overrides))
    given = vars(args)
    data.update({key: given[dest] for dest, key in FLAGS.items() if dest in given})
    if "prompts_file" in given:
        data["prompts"] = [*given.get("prompt", []), *read_prompts(given["prompts_file"])]
    return from_dict(SampleConfig, data)


def read_prompts(path: str) -> list[str]:
    """The captions in a text file, one per line, blank lines skipped."""
    from pathlib import Path

    from dpldm.errors import DpldmError

    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise DpldmError(f"--prompts {path}: cannot read it as UTF-8 text ({type(err).__name__})") from None
    prompts = [line.strip() for line in lines if line.strip()]
    if not prompts:
        raise DpldmError(f"--prompts {path}: no captions in it")
    return prompts


def run(args) -> int:
    from dpldm.synthesis import run_sampling
    from dpldm.training.device import resolve_device

    cfg = load_sample_config(args)
    if args.dry_run:  # the device is resolved (a missing CUDA is an error here too); the model is not loaded
        print_dry_run(cfg, args, {"device": resolve_device(cfg.device).type})
        return 0
    summary = run_sampling(cfg)
    print(json.dumps(summary) if args.json else
          f"{summary['images']} images at {summary['images_per_s']:.1f} images/s -> {summary['npz']}, "
          f"grid {summary['grid']}")
    return 0
