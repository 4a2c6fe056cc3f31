"""`dpldm bench text`: the text-conditional benchmark row (dpldm.bench.text)."""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

from dpldm.bench.text import DEFAULT_CONFIG, DEFAULT_PRETRAIN, TextSettings
from dpldm.cli.common import add_parser, add_record_options, run_and_record


def register(subparsers) -> None:
    parser = add_parser(subparsers, "text", "Text-conditional row: DP fine-tune on captions, sample prompts, judge",
                        "From a public TEXT model (pretrained first by --pretrain-config when its folder is\n"
                        "missing; public data only): DP fine-tuning of the attention blocks and the text projector\n"
                        "on the private set captioned from its labels, sampling from held-out prompt templates,\n"
                        "then downstream accuracy (DP selection on the private validation split), prompt accuracy\n"
                        "(a judge trained on real private data: NOT private, a diagnostic like FID) and FID.\n"
                        "Rerunning the same command resumes. Writes OUT/result.json, OUT/samples.png (one row\n"
                        "per prompt, the prompt under it) and a row in BENCHMARKS.md.")
    privacy = parser.add_mutually_exclusive_group(required=True)
    privacy.add_argument("--epsilon", type=float, help="target epsilon of the fine-tuning")
    privacy.add_argument("--non-private", action="store_true",
                         help="the non-private twin (NOT private; for measuring what privacy costs)")
    parser.add_argument("--out", default=None, help="run folder (default: runs/bench/text-epsEPSILON)")
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="fine-tuning config (captions: labels)")
    parser.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE",
                        help="overrides of the fine-tuning config, e.g. public_model=runs/my_text_ldm/model")
    parser.add_argument("--pretrain-config", default=DEFAULT_PRETRAIN,
                        help="pretraining config that makes the public model when it is missing ('none': never)")
    parser.add_argument("--prompts-per-class", type=int, default=TextSettings.prompts_per_class,
                        help="held-out prompts of each class")
    parser.add_argument("--n-per-prompt", type=int, default=TextSettings.n_per_prompt, help="images per prompt")
    parser.add_argument("--sampler", default=TextSettings.sampler, choices=["ddim", "ddpm", "dpmpp"])
    parser.add_argument("--sample-steps", type=int, default=TextSettings.sample_steps, help="sampler steps")
    parser.add_argument("--guidance", type=float, default=TextSettings.guidance,
                        help="classifier-free guidance scale")
    parser.add_argument("--classifier-epochs", type=int, default=None,
                        help="epochs of the downstream CNN and the judge (default: the CNN's recipe)")
    parser.add_argument("--fid-n", type=int, default=TextSettings.fid_n, help="images on each side of FID")
    parser.add_argument("--features", default=TextSettings.features, choices=["onnx", "torchscript"],
                        help="TF-Inception backend")
    add_record_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dpldm.bench.text import record_row, run_text, summary_line

    epsilon = None if args.non_private else args.epsilon
    out = Path(args.out or "runs/bench/text-" + ("nonprivate" if epsilon is None else f"eps{epsilon:g}"))
    settings = TextSettings(epsilon=epsilon, out=out, config=args.config, overrides=list(args.overrides),
                            pretrain_config=None if args.pretrain_config == "none" else args.pretrain_config,
                            prompts_per_class=args.prompts_per_class, n_per_prompt=args.n_per_prompt,
                            sampler=args.sampler, sample_steps=args.sample_steps, guidance=args.guidance,
                            classifier_epochs=args.classifier_epochs, fid_n=args.fid_n, features=args.features)
    run = partial(run_text, settings, data_root=args.data_root, download=args.download)
    return run_and_record(args, run, record_row, summary_line)
