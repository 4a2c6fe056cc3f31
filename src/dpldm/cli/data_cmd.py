"""`dpldm data`: list the known datasets and which are present; show a labelled grid of samples from one."""

from __future__ import annotations

import argparse
import os
from typing import Any

import yaml

from dpldm.cli.common import add_data_root, add_parser

EXAMPLES = """examples:
  dpldm data list --data-root ../shared/data
  dpldm data show fashion_mnist --data-root ../shared/data --grid grid.png
  dpldm data show glyphs --grid glyphs.png --option include_digits=true seed=3
  dpldm data show celeba --split valid --option attribute=Smiling --grid faces.png
"""


def register(subparsers: Any) -> None:
    parser = add_parser(subparsers, "data", "Datasets: list what is known and present, show a grid of samples",
                        "Datasets: list what is known and present, show a grid of samples.\n\n" + EXAMPLES)
    commands = parser.add_subparsers(dest="data_command", metavar="ACTION")
    parser.set_defaults(func=lambda args: parser.print_help() or 2)

    list_parser = add_parser(commands, "list", "every known dataset: description, splits, present or missing")
    list_parser.add_argument("--data-root", default=None,
                             help="folder holding the datasets (default: $DPLDM_DATA, else ./data)")
    list_parser.set_defaults(func=run_list)

    show = add_parser(commands, "show", "summarise a dataset split and write a PNG grid of labelled samples")
    show.add_argument("name", help="dataset name (see `dpldm data list`)")
    show.add_argument("--split", default=None, help="split to read (none: the dataset's first split)")
    add_data_root(show)
    show.add_argument("--grid", default=None, metavar="PNG", help="write a grid of samples to this PNG file (none: print the summary only)")
    show.add_argument("--n", type=int, default=64, help="number of samples in the grid")
    show.add_argument("--seed", type=int, default=0, help="seed choosing which samples are shown")
    show.add_argument("-o", "--option", dest="options", nargs="+", default=[], metavar="KEY=VALUE",
                      help="dataset options, values read as YAML, e.g. attribute=Smiling size=32 path=my/images")
    show.set_defaults(func=run_show)


def run_list(args: argparse.Namespace) -> int:
    from dpldm.data import REGISTRY, DataError, data_root
    from dpldm.data.registry import dataset_status

    root = data_root(args.data_root)
    explicit = args.data_root or os.environ.get("DPLDM_DATA")
    if explicit and not root.is_dir():  # a typo must not read as "every dataset is missing"
        given = "--data-root" if args.data_root else "$DPLDM_DATA"
        raise DataError(f"data root {root} ({given}) is not a folder")
    rows = [(spec.name, dataset_status(spec, root), ", ".join(spec.splits), spec.description)
            for spec in sorted(REGISTRY.values(), key=lambda s: s.name)]
    widths = [max(len(r[i]) for r in rows + [("NAME", "STATUS", "SPLITS", "")]) for i in range(3)]
    print(f"{'NAME':<{widths[0]}}  {'STATUS':<{widths[1]}}  {'SPLITS':<{widths[2]}}  DESCRIPTION")
    for row in rows:
        print(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}")
    absent = "" if root.is_dir() else " (no such folder yet)"
    print(f"\ndata root: {root.resolve()}{absent}  (--data-root, else $DPLDM_DATA, else ./data)")
    return 0


def parse_options(items: list[str]) -> dict[str, Any]:
    """``["key=value", ...]`` -> dict, values parsed as YAML (``true``, ``3``, ``[a, b]``)."""
    from dpldm.data import DataError

    options: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise DataError(f"option '{item}' must look like key=value")
        try:
            options[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            options[key.strip()] = raw
    return options


def run_show(args: argparse.Namespace) -> int:
    from dpldm.data import REGISTRY, DataError, load_dataset
    from dpldm.data.grid import save_grid

    if args.name not in REGISTRY:
        raise DataError(f"unknown dataset '{args.name}'; known: {', '.join(sorted(REGISTRY))}")
    if args.n < 1:
        raise DataError(f"--n must be at least 1, got {args.n}")
    split = args.split or REGISTRY[args.name].splits[0]
    data = load_dataset(args.name, split, root=args.data_root, download=args.download, limit=args.n,
                        limit_seed=args.seed, **parse_options(args.options))
    kind = "RGB" if data.images.ndim == 4 else "grayscale"
    height, width = data.images.shape[1:3]
    names = " | ".join(data.class_names[:10]) + (" | ..." if data.num_classes > 10 else "")
    print(f"{data.name} {split}: {len(data)} samples shown, {height}x{width} {kind} uint8, "
          f"{data.num_classes} classes ({names})")
    if args.grid:
        labels = list(data.captions) if data.captions is not None else [data.class_names[y] for y in data.labels]
        title = f"{data.name} / {split} ({len(data)} samples, seed {args.seed})"
        path = save_grid(args.grid, data.images, labels, title=title)
        print(f"wrote {path}")
    return 0
