"""`dpldm sample`: Sample labelled synthetic images from a checkpoint."""

from __future__ import annotations

from dpldm.cli.common import add_parser, not_built


def register(subparsers) -> None:
    parser = add_parser(subparsers, "sample", "Sample labelled synthetic images from a checkpoint")
    parser.set_defaults(func=lambda args: not_built("sample"))
