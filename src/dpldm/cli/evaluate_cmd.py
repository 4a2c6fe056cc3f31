"""`dpldm evaluate`: Evaluate synthetic images: downstream accuracy, FID."""

from __future__ import annotations

from dpldm.cli.common import add_parser, not_built


def register(subparsers) -> None:
    parser = add_parser(subparsers, "evaluate", "Evaluate synthetic images: downstream accuracy, FID")
    parser.set_defaults(func=lambda args: not_built("evaluate"))
