"""`dpldm data`: Datasets: list what is known and present, show a grid of samples."""

from __future__ import annotations

from dpldm.cli.common import add_parser, not_built


def register(subparsers) -> None:
    parser = add_parser(subparsers, "data", "Datasets: list what is known and present, show a grid of samples")
    parser.set_defaults(func=lambda args: not_built("data"))
