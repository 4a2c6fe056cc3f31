"""`dpldm pretrain`: Train the conditional latent diffusion model on PUBLIC latents."""

from __future__ import annotations

from dpldm.cli.common import add_parser, not_built


def register(subparsers) -> None:
    parser = add_parser(subparsers, "pretrain", "Train the conditional latent diffusion model on PUBLIC latents")
    parser.set_defaults(func=lambda args: not_built("pretrain"))
