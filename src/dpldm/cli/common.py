"""Options and helpers shared by the stage subcommands."""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from pathlib import Path
from typing import Any, Callable, TypeVar

from dpldm.config import dump_yaml, load_config, resolve_config_path, to_dict

T = TypeVar("T")

class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows each option's default and keeps the description's line breaks."""


def add_parser(subparsers: Any, name: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
    return subparsers.add_parser(name, help=help, description=description or help, formatter_class=HelpFormatter)


def add_config_options(parser: argparse.ArgumentParser, default_config: str | None) -> None:
    """--config / --set / --dry-run / --json, the same on every config-driven stage."""
    parser.add_argument("--config", default=default_config,
                        help="YAML config: a path, or the name of a bundled config (see `configs/`)")
    parser.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE",
                        help="dotted overrides, e.g. --set dp.epsilon=1 train.lr=3e-4")
    parser.add_argument("--dry-run", action="store_true", help="print the resolved config (the plan) and exit")
    parser.add_argument("--json", action="store_true", help="with --dry-run: print one JSON object")


def add_stage_parser(subparsers: Any, name: str, help: str, description: str,
                     default_config: str) -> argparse.ArgumentParser:
    """A training stage: --config/--set/--dry-run/--json, --data-root/--download, --out RUN_DIR, --device."""
    parser = add_parser(subparsers, name, help, description)
    add_config_options(parser, default_config)
    add_data_root(parser)
    parser.add_argument("--out", default=None, help="run folder (overrides out_dir in the config)")
    parser.add_argument("--device", default=None,
                        help="where to train: auto (CUDA when present, else CPU), cpu, cuda or cuda:N "
                             "(overrides train.device, whose default is auto)")
    return parser


def load_stage_config(cls: type[T], args: argparse.Namespace) -> T:
    """The stage's typed config: --config, then --set overrides, then --out as out_dir and --device as
    train.device."""
    overrides = list(args.overrides) + ([f"out_dir={args.out}"] if getattr(args, "out", None) else [])
    if getattr(args, "device", None):
        overrides.append(f"train.device={args.device}")
    return load_config(cls, resolve_config_path(args.config), overrides)


def add_data_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", default=None,
                        help="folder holding the datasets (default: $DPLDM_DATA, else ./data)")
    parser.add_argument("--download", action="store_true",
                        help="download a missing dataset from its official URL (checksummed)")


def add_record_options(parser: argparse.ArgumentParser, what: str = "row") -> None:
    """The options every benchmark that records results shares: where its ``what`` goes, not recording it, JSON
    output, and the data root."""
    parser.add_argument("--benchmarks", default="BENCHMARKS.md", help=f"markdown file the {what} is written to")
    parser.add_argument("--no-record", action="store_true", help=f"do not write the {what} to --benchmarks")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    add_data_root(parser)


def run_and_record(args: argparse.Namespace, run: Callable[..., dict[str, Any]],
                   record: Callable[[Path, dict[str, Any]], Any], summary: Callable[[dict[str, Any]], str]) -> int:
    """The tail of a benchmark that records a row: ``run(say=, command=)`` with progress on stderr under --json,
    the row recorded in --benchmarks unless --no-record, then the result printed (JSON, or ``summary``)."""
    say = (lambda message: print(message, file=sys.stderr)) if args.json else print
    result = run(say=say, command="dpldm " + shlex.join(sys.argv[1:]))
    if not args.no_record:
        record(Path(args.benchmarks), result)
        say(f"row written to {args.benchmarks}")
    print(json.dumps(result, indent=2) if args.json else summary(result))
    return 0


def finite_float(text: str) -> float:
    """argparse type: a finite number (NaN and inf refused, as they silently give NaN outputs)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_clip_latents(parser: argparse.ArgumentParser, default: Any = None) -> None:
    """--clip-latents C, parsed into SampleConfig.clip_latents (0 -> None: off). default: argparse.SUPPRESS leaves
    the attribute unset when the flag is absent (`dpldm sample`: the config's value stands)."""
    def clip(text: str) -> float | None:
        value = finite_float(text)
        if not value >= 0:
            raise argparse.ArgumentTypeError(f"must be 0 (off) or positive, got {text}")
        return value or None

    parser.add_argument("--clip-latents", type=clip, default=default, metavar="C",
                        help="clip each sampler step's predicted clean latent to [-C, C] data stds (removes the "
                             "saturated blobs of under-trained models; weakens guidance); default or 0: off")


def print_dry_run(config: Any, args: argparse.Namespace, extra: dict[str, Any] | None = None) -> None:
    if getattr(args, "json", False):
        print(json.dumps({"config": to_dict(config), **(extra or {})}, indent=2))
    else:
        sys.stdout.write(dump_yaml(config))
        for key, value in (extra or {}).items():
            print(f"# {key}: {value}")

