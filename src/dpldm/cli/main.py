"""Entry point of the ``dpldm`` command."""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys

from dpldm import __version__
from dpldm.errors import DpldmError

# subcommand -> module with register(subparsers); in pipeline order.
COMMANDS = {
    "data": "dpldm.cli.data_cmd",
    "train-autoencoder": "dpldm.cli.train_autoencoder_cmd",
    "select-public": "dpldm.cli.select_public_cmd",
    "pretrain": "dpldm.cli.pretrain_cmd",
    "finetune": "dpldm.cli.finetune_cmd",
    "sample": "dpldm.cli.sample_cmd",
    "evaluate": "dpldm.cli.evaluate_cmd",
    "report": "dpldm.cli.report_cmd",
    "privacy": "dpldm.cli.privacy_cmd",
    "demo": "dpldm.cli.demo_cmd",
    "bench": "dpldm.cli.bench_cmd",
    "audit": "dpldm.cli.audit_cmd",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dpldm",
        description="Differentially private synthetic images with latent diffusion models (DP-LDM).",
    )
    parser.add_argument("--version", action="version", version=f"dpldm {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS.values():
        importlib.import_module(module).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # The command as typed (or as called from Python), for the records that name the command that made them.
    args.command_line = "dpldm " + shlex.join(sys.argv[1:] if argv is None else argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except DpldmError as err:
        print(f"dpldm {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a folder that cannot be written, a full disk ...: one line naming the file
        where = f"{err.filename}: " if err.filename else ""
        print(f"dpldm {args.command}: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dpldm {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
