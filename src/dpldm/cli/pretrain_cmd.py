"""`dpldm pretrain`: train the conditional latent diffusion model on PUBLIC latents."""

from __future__ import annotations

import json

from dpldm.cli.common import add_stage_parser, load_stage_config, print_dry_run


def register(subparsers) -> None:
    parser = add_stage_parser(subparsers, "pretrain", "Train the conditional latent diffusion model on PUBLIC latents",
                        "DDPM eps-prediction training of the class-conditional latent UNet on PUBLIC data, with\n"
                        "the trained autoencoder frozen (latents are encoded once and cached). Resumes from the\n"
                        "run folder's checkpoint; exports the EMA model to OUT/model.", "omniglot_ldm")
    parser.set_defaults(func=run)


def run(args) -> int:
    from dpldm.training.pretrain import PretrainConfig, pretrain

    cfg = load_stage_config(PretrainConfig, args)
    if args.dry_run:
        print_dry_run(cfg, args)
        return 0
    summary = pretrain(cfg, data_root=args.data_root, download=args.download)
    print(json.dumps(summary, indent=2))
    return 0
