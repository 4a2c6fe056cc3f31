"""`dpldm privacy`: Privacy accounting: epsilon from a noise multiplier, or the reverse."""

from __future__ import annotations

from dpldm.cli.common import add_parser, not_built


def register(subparsers) -> None:
    parser = add_parser(subparsers, "privacy", "Privacy accounting: epsilon from a noise multiplier, or the reverse")
    parser.set_defaults(func=lambda args: not_built("privacy"))
