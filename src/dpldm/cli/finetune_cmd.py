"""`dpldm finetune`: Fine-tune the attention modules with DP-SGD on PRIVATE images."""

from __future__ import annotations

from dpldm.cli.common import add_parser, not_built


def register(subparsers) -> None:
    parser = add_parser(subparsers, "finetune", "Fine-tune the attention modules with DP-SGD on PRIVATE images")
    parser.set_defaults(func=lambda args: not_built("finetune"))
