"""`dpldm bench`: Benchmarks that print numbers."""

from __future__ import annotations

from dpldm.cli.common import add_parser, not_built


def register(subparsers) -> None:
    parser = add_parser(subparsers, "bench", "Benchmarks that print numbers")
    parser.set_defaults(func=lambda args: not_built("bench"))
