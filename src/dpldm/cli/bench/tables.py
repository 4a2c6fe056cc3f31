"""`dpldm bench tables`: regenerate BENCHMARKS.md's generated tables from benchmarks/results/ (dpldm.results)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dpldm.cli.common import add_parser


def register(subparsers) -> None:
    parser = add_parser(subparsers, "tables", "Regenerate BENCHMARKS.md's tables from benchmarks/results/",
                        "Rewrites each generated table of the markdown file (between its markers) from the\n"
                        "committed JSON results beside it (benchmarks/results/<table>/*.json); the text around the\n"
                        "tables is left alone. Running it twice changes nothing.")
    parser.add_argument("--benchmarks", default="BENCHMARKS.md", help="markdown file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dpldm.bench.tables import regenerate_tables

    path = Path(args.benchmarks)
    for name, changed in regenerate_tables(path).items():
        print(f"{path}: {name} table {'regenerated' if changed else 'unchanged'}")
    return 0
