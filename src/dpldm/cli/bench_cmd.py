"""`dpldm bench NAME`: benchmarks that print numbers (speed ratios, rates, quality)."""

from __future__ import annotations

from dpldm.cli.bench import ablation, dp_step, fid, quality, sample, tables, text
from dpldm.cli.common import add_parser

# Modules with register(subparsers), each adding one `dpldm bench NAME`, in the order `dpldm bench --help` lists them.
BENCHES = (sample, dp_step, fid, quality, text, ablation, tables)


def register(subparsers) -> None:
    parser = add_parser(subparsers, "bench", "Benchmarks that print numbers")
    benches = parser.add_subparsers(dest="bench", metavar="BENCH")
    for module in BENCHES:
        module.register(benches)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
