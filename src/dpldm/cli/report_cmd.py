"""`dpldm report`: Write a self-contained HTML report of a run folder."""

from __future__ import annotations

from dpldm.cli.common import add_parser, not_built


def register(subparsers) -> None:
    parser = add_parser(subparsers, "report", "Write a self-contained HTML report of a run folder")
    parser.set_defaults(func=lambda args: not_built("report"))
