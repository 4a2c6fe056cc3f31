"""`dpldm sample`: labelled synthetic images from a model folder."""

from __future__ import annotations

import json

from dpldm.cli.common import add_clip_latents, add_parser, finite_float, positive_int


def register(subparsers) -> None:
    parser = add_parser(subparsers, "sample", "Sample labelled synthetic images from a model",
                        "Sample a class-balanced labelled set from a model folder (model.json + weights).\n"
                        "Writes OUT/samples.npz (uint8 images, int64 labels), OUT/samples.png (one row per\n"
                        "class) and OUT/samples.yaml (the settings). Image i uses seed SEED*1000003+i, so it does\n"
                        "not depend on the batch size. Samples in OUT made with other settings (or another model)\n"
                        "are never replaced: that is an error naming what changed.")
    parser.add_argument("--model", required=True, help="model folder, or a bundled public model's name")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--n-per-class", type=positive_int, default=10, help="images per class")
    parser.add_argument("--sampler", choices=["ddim", "ddpm"], default="ddim", help="reverse process")
    parser.add_argument("--steps", type=positive_int, default=50, help="sampler steps")
    parser.add_argument("--eta", type=finite_float, default=0.0, help="DDIM eta")
    parser.add_argument("--guidance", type=finite_float, default=1.0, help="classifier-free guidance scale (1: none)")
    add_clip_latents(parser)
    parser.add_argument("--seed", type=int, default=0, help="base seed")
    parser.add_argument("--batch-size", type=positive_int, default=500, help="images per batch")
    parser.add_argument("--classes", type=int, nargs="+", default=None, help="only these class indices")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    parser.set_defaults(func=run)


def run(args) -> int:
    import numpy as np

    from dpldm.config import from_dict
    from dpldm.public_models import resolve_model
    from dpldm.errors import DpldmError
    from dpldm.synthesis import (SampleConfig, check_request, check_sample_folder, class_balanced_labels, generate,
                                 image_seeds, sample_settings, save_samples)
    from dpldm.writable import writable_folder

    cfg = from_dict(SampleConfig, {"n_per_class": args.n_per_class, "sampler": args.sampler, "steps": args.steps,
                                   "eta": args.eta, "guidance_scale": args.guidance, "seed": args.seed,
                                   "batch_size": args.batch_size,
                                   "clip_latents": args.clip_latents})
    model = resolve_model(args.model)
    classes = len(model.class_names)
    outside = [c for c in args.classes or () if not 0 <= c < classes]
    if outside:
        raise DpldmError(f"--classes {outside[0]}: the model has {classes} classes, numbered 0..{classes - 1}")
    settings = sample_settings(args.model, model, cfg, args.classes)
    check_sample_folder(args.out, settings)
    labels = class_balanced_labels(classes, cfg.n_per_class)
    if args.classes is not None:
        labels = labels[np.isin(labels, args.classes)]
    check_request(model, labels, cfg)  # steps, guidance ... before any image is made
    writable_folder(args.out)
    images, rate = generate(model, labels, image_seeds(cfg.seed, len(labels)), cfg)
    npz, png = save_samples(args.out, images, labels, model.class_names, settings=settings)
    summary = {"images": len(images), "images_per_s": round(rate, 2), "npz": str(npz), "grid": str(png)}
    print(json.dumps(summary) if args.json else
          f"{len(images)} images at {rate:.1f} images/s -> {npz}, grid {png}")
    return 0
