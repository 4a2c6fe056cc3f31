"""`dpldm demo`: the whole pipeline on the embedded default, offline."""

from __future__ import annotations

from dpldm.cli.common import add_parser
from dpldm.demo import DEMO_GUIDANCE, DEMO_PER_CLASS, DEMO_SAMPLE_STEPS, DEMO_SAMPLER


def register(subparsers) -> None:
    parser = add_parser(subparsers, "demo", "Run the whole pipeline on the embedded default (offline)",
                        "DP fine-tuning of the shipped glyphs8 model (font letters, digits) on scikit-learn's digits\n"
                        "(private), class-balanced sampling, and the downstream accuracy of a CNN trained on the\n"
                        "synthetic digits against one trained on the real private digits, both tested on held-out\n"
                        "real digits. Needs nothing but the installed package.")
    parser.add_argument("--out", default="runs/demo", help="output folder")
    parser.add_argument("--epsilon", type=float, default=10.0, help="target epsilon (delta = 1e-5)")
    parser.add_argument("--n-per-class", type=int, default=DEMO_PER_CLASS, help="synthetic images per digit")
    parser.add_argument("--sampler", choices=("ddim", "dpmpp"), default=DEMO_SAMPLER,
                        help="reverse process (dpmpp: DPM-Solver++ 2M)")
    parser.add_argument("--sample-steps", type=int, default=DEMO_SAMPLE_STEPS, help="sampler steps")
    parser.add_argument("--guidance", type=float, default=DEMO_GUIDANCE, help="classifier-free guidance scale")
    parser.add_argument("--classifier-epochs", type=int, default=None,
                        help="CNN training epochs; None: the classifier's recipe (20)")
    parser.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE",
                        help="overrides of the fine-tuning config (configs/demo.yaml), e.g. dp.epochs=5")
    parser.set_defaults(func=run)


def run(args) -> int:
    from dpldm.demo import run_demo

    run_demo(args.out, epsilon=args.epsilon, n_per_class=args.n_per_class, sampler=args.sampler,
             sample_steps=args.sample_steps,
             guidance=args.guidance, overrides=args.overrides, classifier_epochs=args.classifier_epochs)
    return 0
