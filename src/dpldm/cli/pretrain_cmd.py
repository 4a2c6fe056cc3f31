"""`dpldm pretrain`: train the conditional latent diffusion model on PUBLIC latents."""

from __future__ import annotations

import json

from dpldm.cli.common import add_config_options, add_data_root, add_parser, load_stage_config, print_dry_run


def register(subparsers) -> None:
    parser = add_parser(subparsers, "pretrain", "Train the conditional latent diffusion model on PUBLIC latents",
                        "DDPM eps-prediction training of the class-conditional latent UNet on PUBLIC data, with\n"
                        "the trained autoencoder frozen (latents are encoded once and cached). Resumes from the\n"
                        "run folder's checkpoint; exports the EMA model to OUT/model.")
    add_config_options(parser, "omniglot_ldm")
    add_data_root(parser)
    parser.add_argument("--out", default=None, help="run folder (overrides out_dir in the config)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from dpldm.training.pretrain import PretrainConfig, pretrain

    if args.out:
        args.overrides.append(f"out_dir={args.out}")
    cfg = load_stage_config(PretrainConfig, args)
    if args.dry_run:
        print_dry_run(cfg, args)
        return 0
    summary = pretrain(cfg, data_root=args.data_root, download=args.download)
    print(json.dumps(summary, indent=2))
    return 0
