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
    "tables": "dpldm.bench.tables",
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
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def _not_built(name: str) -> int:
    from dpldm.cli.common import not_built

    return not_built(f"bench {name}")
