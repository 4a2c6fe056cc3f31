"""`dpldm report`: Write a self-contained HTML report of a run folder."""

from __future__ import annotations

import argparse

from dpldm.cli.common import add_parser


def register(subparsers) -> None:
    parser = add_parser(subparsers, "report", "Write a self-contained HTML report of a run folder",
                        description="One HTML page, images embedded, that opens with no server: sample grid per "
                        "class, loss curve, epsilon over steps, metrics, privacy ledger, resolved config, and "
                        "which files of the folder may be published and which are private. It reads only the "
                        "releasable files. Whatever the run folder lacks is named on the page.")
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the run folder (config.yaml, log.jsonl, privacy.json, "
                        "samples.npz, samples.png, metrics.json; any may be missing)")
    parser.add_argument("--out", default=None, help="where to write the page; None: RUN_DIR/report.html")
    parser.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    from dpldm.evaluation.report import write_report
    from dpldm.runlayout import describe

    print(write_report(args.run_dir, args.out))
    private = [path for path, releasable, _ in describe(args.run_dir) if not releasable]
    if private:
        print(f"private, never to be published ({len(private)}): {', '.join(private)}")
    return 0
