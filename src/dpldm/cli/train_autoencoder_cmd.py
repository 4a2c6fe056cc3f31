"""`dpldm train-autoencoder`: train the KL autoencoder on PUBLIC images."""

from __future__ import annotations

import json

from dpldm.cli.common import add_stage_parser, load_stage_config, print_dry_run


def register(subparsers) -> None:
    parser = add_stage_parser(subparsers, "train-autoencoder", "Train the autoencoder on PUBLIC images",
                        "Train the KL autoencoder on a PUBLIC dataset (resumes from the run folder's checkpoint),\n"
                        "then report reconstruction MSE/PSNR on held-out public images (OUT/metrics.json) and on\n"
                        "private sets it never saw (OUT/private/metrics.json, never to be published), and write\n"
                        "public originals beside reconstructions as a PNG.", "omniglot_autoencoder")
    parser.set_defaults(func=run)


def run(args) -> int:
    from dpldm.training.autoencoder import AutoencoderStageConfig, train_autoencoder

    cfg = load_stage_config(AutoencoderStageConfig, args)
    if args.dry_run:
        print_dry_run(cfg, args)
        return 0
    metrics = train_autoencoder(cfg, data_root=args.data_root, download=args.download)
    print(json.dumps({k: v for k, v in metrics.items() if not k.startswith("private:")}, indent=2))
    if any(k.startswith("private:") for k in metrics):
        print(f"reconstruction on the private sets (private, not for publication): {cfg.out_dir}/private/metrics.json")
    print(f"autoencoder written to {cfg.out_dir}/autoencoder")
    return 0
