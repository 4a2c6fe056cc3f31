"""`dpldm bench tables`: regenerate BENCHMARKS.md's generated tables from benchmarks/results/ (dpldm.bench.results)."""

from __future__ import annotations

from pathlib import Path

from dpldm.cli.common import add_parser


def register(subparsers) -> None:
    parser = add_parser(subparsers, "tables", "Regenerate BENCHMARKS.md's tables from benchmarks/results/",
                        "Rewrites each generated table of the markdown file (between its markers) from the\n"
                        "committed JSON results beside it (benchmarks/results/<table>/*.json); the text around the\n"
                        "tables is left alone. Running it twice changes nothing.")
    parser.add_argument("--benchmarks", default="BENCHMARKS.md", help="markdown file")
    parser.set_defaults(func=run)


def run(args) -> int:
    from dpldm.bench.quality import QUALITY_TABLE
    from dpldm.bench.results import regenerate

    path = Path(args.benchmarks)
    for table in (QUALITY_TABLE,):
        changed = regenerate(path, table)
        print(f"{path}: {table.name} table {'regenerated' if changed else 'unchanged'}")
    return 0
