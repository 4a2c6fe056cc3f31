"""`dpldm select-public`: choose the public classes closest to the private data, with DP, to pretrain on."""

from __future__ import annotations

import json

from dpldm.cli.common import add_config_options, add_data_root, add_parser, print_dry_run


def register(subparsers) -> None:
    parser = add_parser(subparsers, "select-public", "Choose the public classes closest to the PRIVATE data, with DP",
                        "PrivImage's selection (Li et al. 2024): a classifier trained on the public images gives\n"
                        "each private training image one public class; the histogram of those classes is released\n"
                        "with Gaussian noise (epsilon at delta stated, charged to the private set's ledger) and its\n"
                        "largest bins are the classes to pretrain on: `dpldm pretrain --set selection=OUT/selection.json`\n"
                        "continues a public model on them, and a fine-tune from that model composes the selection's\n"
                        "epsilon with its own. Writes OUT/selection.json, privacy.json, histogram.png, selected.png.")
    add_config_options(parser, "fashion_mnist_select")
    add_data_root(parser)
    parser.add_argument("--out", default=None, help="run folder (overrides out_dir in the config)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from dpldm.cli.common import load_stage_config
    from dpldm.public_selection import SelectionConfig, select_public

    cfg = load_stage_config(SelectionConfig, args)
    if args.dry_run:
        print_dry_run(cfg, args)
        return 0
    result = select_public(cfg, data_root=args.data_root, download=args.download)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k not in ("noisy_counts", "public_class_names")},
                         indent=2))
    return 0
