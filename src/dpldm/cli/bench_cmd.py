"""`dpldm bench NAME`: benchmarks that print numbers (speed ratios, rates, quality)."""

from __future__ import annotations

import importlib

from dpldm.cli.common import add_parser

# bench name -> module under dpldm.bench with register(subparsers); a missing module means not built yet.
BENCHES = {
    "sample": "dpldm.bench.sampling",
    "dp-step": "dpldm.bench.dp_step",
    "fid": "dpldm.bench.fid",
    "quality": "dpldm.bench.quality",
    "ablation": "dpldm.bench.ablation",
}


def register(subparsers) -> None:
    parser = add_parser(subparsers, "bench", "Benchmarks that print numbers")
    benches = parser.add_subparsers(dest="bench", metavar="BENCH")
    for name, module in BENCHES.items():
        try:
            importlib.import_module(module).register(benches)
        except ModuleNotFoundError as err:
            if err.name != module:
                raise
            sub = add_parser(benches, name, f"(not built yet) {name}")
            sub.set_defaults(func=lambda args, name=name: _not_built(name))
    tables = add_parser(benches, "tables", "Regenerate BENCHMARKS.md's tables from benchmarks/results/",
                        "Rewrites each generated table of the markdown file (between its markers) from the\n"
                        "committed JSON results beside it (benchmarks/results/<table>/*.json); the text around the\n"
                        "tables is left alone. Running it twice changes nothing.")
    tables.add_argument("--benchmarks", default="BENCHMARKS.md", help="markdown file")
    tables.set_defaults(func=_regenerate_tables)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def _regenerate_tables(args) -> int:
    from pathlib import Path

    from dpldm.bench.quality import QUALITY_TABLE
    from dpldm.bench.results import regenerate

    path = Path(args.benchmarks)
    for table in (QUALITY_TABLE,):
        changed = regenerate(path, table)
        print(f"{path}: {table.name} table {'regenerated' if changed else 'unchanged'}")
    return 0


def _not_built(name: str) -> int:
    from dpldm.cli.common import not_built

    return not_built(f"bench {name}")
