"""`dpldm demo`: Run the whole pipeline on the embedded default (offline)."""

from __future__ import annotations

from dpldm.cli.common import add_parser, not_built


def register(subparsers) -> None:
    parser = add_parser(subparsers, "demo", "Run the whole pipeline on the embedded default (offline)")
    parser.set_defaults(func=lambda args: not_built("demo"))
