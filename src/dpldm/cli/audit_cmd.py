"""`dpldm audit`: empirical privacy audits, which try to show more privacy loss than the accountant claims.

membership  membership inference and canaries on a real fine-tune (dpldm.audit.finetune_audit)
whitebox    a gradient canary against the DP-SGD engine, seed handed to the adversary or secret (dpldm.audit.whitebox)

Both exit with code 1 when the empirical epsilon lower bound exceeds the accountant's epsilon: that is a bug in
DP-SGD or its accounting, not a result.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dpldm.cli.common import add_data_root, add_parser, resolve_config_path

MEMBERSHIP = """\
Split the fine-tuning config's private set by public coins (seed --seed) into members and held-out records, turn
--canaries of its records into outlier canaries (about half of them members), fine-tune on the members with the
config (and --set), then attack every record and canary with the calibrated denoising-loss attack. Prints AUC [95%
CI] and TPR at 1% and 0.1% FPR on the records and on the canaries, and the canaries' empirical epsilon lower bound
(Clopper-Pearson, 95%) beside the accountant's epsilon. Resumable: rerun the same command.
The results are statistics of the private set without DP: they are written to OUT/private/audit.json.

examples (the BENCHMARKS.md rows; dp.seed=0 makes the non-private run reproducible, it has nothing to hide):
  dpldm audit membership --out runs/audit/eps1 --seed 1 --set dp.epsilon=1
  dpldm audit membership --out runs/audit/nonprivate --seed 1 --set dp.epsilon=null dp.noise_multiplier=0.001 \\
      dp.max_grad_norm=100 dp.accountant=rdp dp.seed=0
"""

WHITEBOX = """\
Train a linear model whose per-example gradients the adversary chooses, with the real DP-SGD engine, --trials
times; a public coin puts a gradient canary into each run's data or not. The adversary sees every noisy update
and scores each run by the canary direction. With --seed-known it is handed each run's DP seed, regenerates the
noise and must detect the canary far above the claim (the audit can fail); by default the engine draws secret OS
entropy and the empirical epsilon lower bound must stay below the accountant's epsilon.
"""


def register(subparsers) -> None:
    parser = add_parser(subparsers, "audit", "Empirical privacy audits: membership inference, canaries, white-box")
    audits = parser.add_subparsers(dest="audit", metavar="AUDIT")

    sub = add_parser(audits, "membership", "Membership inference and canaries on a fine-tune", MEMBERSHIP)
    sub.add_argument("--out", required=True, help="audit folder (OUT/finetune: the fine-tune; OUT/private: results)")
    sub.add_argument("--config", default="audit_digits",
                     help="fine-tuning config; its data section is the private pool")
    sub.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE",
                     help="overrides of the fine-tuning config, e.g. dp.epsilon=1 train.threads=1")
    sub.add_argument("--canaries", type=int, default=64,
                     help="records turned into canaries (the evaluated half bounds what the audit can show)")
    sub.add_argument("--canary-kind", choices=("inverted", "noise"), default="noise",
                     help="inverted: the record's pixels inverted; noise: uniform random pixels, random label")
    sub.add_argument("--seed", type=int, default=0, help="the audit's public seed (membership coins, canaries)")
    sub.add_argument("--timesteps", type=int, nargs="+", default=None,
                     help="attack timesteps (default 10 25 50 100)")
    sub.add_argument("--draws", type=int, default=None, help="noise draws per record and timestep (default 16)")
    sub.add_argument("--label", default="", help="the run's name in the table (default: OUT's name)")
    sub.add_argument("--benchmarks", default=None, help="markdown file to put the result's row in (none: print)")
    sub.add_argument("--json", action="store_true", help="print the result as one JSON object")
    add_data_root(sub)
    sub.set_defaults(func=run_membership)

    sub = add_parser(audits, "whitebox", "Gradient canary against the DP-SGD engine (Nasr et al. 2021)", WHITEBOX)
    sub.add_argument("--seed-known", action="store_true", help="hand each run's DP seed to the adversary")
    sub.add_argument("--trials", type=int, default=1000, help="training runs (one guess each)")
    sub.add_argument("--steps", type=int, default=8, help="DP-SGD steps per run")
    sub.add_argument("--epsilon", type=float, default=1.0, help="the claim sigma is calibrated to")
    sub.add_argument("--accountant", default="prv", choices=("prv", "rdp", "pld"), help="privacy accountant")
    sub.add_argument("--seed", type=int, default=0, help="the audit's public seed")
    sub.add_argument("--benchmarks", default=None, help="markdown file to put the result's row in")
    sub.add_argument("--json", action="store_true", help="print the result as one JSON object")
    sub.set_defaults(func=run_whitebox)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def run_membership(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from dpldm.audit.attack import AttackConfig
    from dpldm.audit.finetune_audit import AuditSettings, run_audit, summary_lines
    from dpldm.audit.table import record_membership

    attack = AttackConfig()
    if args.timesteps:
        attack = replace(attack, timesteps=tuple(args.timesteps))
    if args.draws:
        attack = replace(attack, draws=args.draws)
    from dpldm.provenance import git_commit

    settings = AuditSettings(out=Path(args.out), config=resolve_config_path(args.config),
                             overrides=list(args.overrides), n_canaries=args.canaries, canary_kind=args.canary_kind,
                             seed=args.seed, attack=attack, label=args.label)
    say = (lambda message: print(message, file=sys.stderr)) if args.json else print
    result = run_audit(settings, data_root=args.data_root, say=say, command=args.command_line, commit=git_commit())
    if args.benchmarks:
        record_membership(Path(args.benchmarks), result)
        say(f"row written to {args.benchmarks}")
    print(json.dumps(result, indent=2) if args.json else "\n".join(summary_lines(result)))
    return 0 if result["bound_within_claim"] else 1


def run_whitebox(args: argparse.Namespace) -> int:
    from dpldm.audit.table import record_whitebox
    from dpldm.audit.whitebox import WhiteboxConfig, whitebox_audit
    from dpldm.provenance import git_commit

    cfg = WhiteboxConfig(trials=args.trials, steps=args.steps, epsilon=args.epsilon, accountant=args.accountant,
                         seed=args.seed)
    result = {**whitebox_audit(cfg, seed_known=args.seed_known), "commit": git_commit(), "command": args.command_line}
    if args.benchmarks:
        record_whitebox(Path(args.benchmarks), result)
    bound = result["epsilon_lower_bound"]
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        mode = "seed handed to the adversary" if args.seed_known else "secret entropy"
        verdict = "within the claim" if result["bound_within_claim"] else "EXCEEDS the claim"
        print(f"white-box gradient canary, {mode}: empirical epsilon lower bound {bound['epsilon']:.3f} "
              f"({bound['tp']}/{bound['n_in']} TP, {bound['fp']}/{bound['n_out']} FP, "
              f"{100 * (1 - bound['alpha']):g}% confidence) vs accountant epsilon "
              f"{result['accountant_epsilon']:.4f} (sigma {result['noise_multiplier']:.4f}, "
              f"q {result['sample_rate']:g}, {cfg.steps} steps, {cfg.trials} runs): {verdict}")
    return 0 if result["bound_within_claim"] else 1
