"""`dpldm train-autoencoder`: Train the autoencoder on PUBLIC images."""

from __future__ import annotations

from dpldm.cli.common import add_parser, not_built


def register(subparsers) -> None:
    parser = add_parser(subparsers, "train-autoencoder", "Train the autoencoder on PUBLIC images")
    parser.set_defaults(func=lambda args: not_built("train-autoencoder"))
