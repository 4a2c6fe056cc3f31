"""`dpldm finetune`: DP-SGD fine-tuning of a public model's attention modules on PRIVATE images."""

from __future__ import annotations

import json

from dpldm.cli.common import add_stage_parser, load_stage_config, print_dry_run


def register(subparsers) -> None:
    parser = add_stage_parser(subparsers, "finetune", "Fine-tune the attention modules with DP-SGD on PRIVATE images",
                        "Load a public model, freeze all but the modules named by `trainable`, and fine-tune them\n"
                        "with DP-SGD (Poisson sampling, per-example clipping, Gaussian noise calibrated to the\n"
                        "target epsilon) on a PRIVATE dataset. Writes OUT/privacy.json and the private model to\n"
                        "OUT/model, whose model.json carries the guarantee. Resumes from OUT/checkpoint.\n"
                        "--dry-run --json prints the plan: trainable parameters and modules, sigma, q, steps, epsilon.",
                        "mnist_finetune")
    parser.set_defaults(func=run)


def run(args) -> int:
    from dpldm.finetune.stage import FinetuneConfig, finetune, prepare_finetune

    cfg = load_stage_config(FinetuneConfig, args)
    if args.dry_run:
        # The plan needs the private set's size and the model, not its latents.
        plan = prepare_finetune(cfg, data_root=args.data_root, download=args.download, progress=False,
                                encode=False).summary()
        if args.json:
            print(json.dumps(plan, indent=2))
        else:
            print_dry_run(cfg, args, plan)
        return 0
    summary = finetune(cfg, data_root=args.data_root, download=args.download)
    if summary is not None:  # None: a rank other than 0 of a torchrun launch, which prints nothing
        print(json.dumps(summary, indent=2))
    return 0
