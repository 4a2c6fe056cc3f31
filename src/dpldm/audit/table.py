"""The audits' tables in BENCHMARKS.md, generated from their results (``dpldm.results``): one row per command,
rerun = replaced.

Each recorded audit saves its row as ``benchmarks/results/<membership|whitebox>/<id>.json`` and regenerates its
table; ``dpldm bench tables`` regenerates them with the others. Both tables live under one "Privacy audit" section
(made when missing); the prose written around them survives reruns.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from dpldm.results import Table, regenerate, save_result

SECTION = "## Privacy audit (`dpldm audit`)"
# What of a membership audit's result its row file keeps: the row's fields and the privacy settings. The rest
# (the design's counts, per-timestep AUCs, the run folder) stays in OUT/private/audit.json with the private data.
MEMBERSHIP_FIELDS = ("audit", "label", "accountant_epsilon", "delta", "accountant", "noise_multiplier",
                     "max_grad_norm", "sample_rate", "steps", "records", "canaries", "epsilon_lower_bound",
                     "bound_within_claim", "leakage_detected", "finetune_wall_s", "commit", "cores", "command")


def epsilon_text(eps: float) -> str:
    return "inf" if not math.isfinite(eps) else f"{eps:.3g}" if eps < 1e4 else f"{eps:.1e} (not private)"


def membership_row(result: dict[str, Any]) -> str:
    def metrics(m: dict[str, Any]) -> tuple[str, str]:
        low, high = m["auc_interval"]
        rates = " / ".join(f"{100 * r['tpr']:.1f}%" for r in m["rates"])
        return f"{m['auc']:.3f} [{low:.3f}, {high:.3f}]", rates

    bound = result["epsilon_lower_bound"]
    lb = (f"{bound['epsilon']:.2f} ({bound['tp']}/{bound['n_in']} TP, {bound['fp']}/{bound['n_out']} FP; "
          f"most {bound['max_attainable']:.2f})")
    if not result["bound_within_claim"]:
        lb += " EXCEEDS THE CLAIM"
    (rec_auc, rec_rates), (can_auc, can_rates) = metrics(result["records"]), metrics(result["canaries"])
    return (f"| {result['label']} | {epsilon_text(result['accountant_epsilon'])} | {rec_auc} | {rec_rates} "
            f"| {can_auc} | {can_rates} | {lb} | {result['steps']} steps, {result['finetune_wall_s'] / 60:.1f} min "
            f"| {result['commit']} | `{result['command']}` |")


def whitebox_row(result: dict[str, Any]) -> str:
    bound, cfg = result["epsilon_lower_bound"], result["config"]
    adversary = "seed handed over" if result["seed_known"] else "secret entropy"
    verdict = "within the claim" if result["bound_within_claim"] else "exceeds the claim (the audit fails)"
    return (f"| {adversary} | {epsilon_text(result['accountant_epsilon'])} ({cfg['accountant']}) "
            f"| {result['noise_multiplier']:.3f} / {result['sample_rate']:g} / {cfg['steps']} "
            f"| {cfg['trials']} ({bound['n_in']} / {bound['n_out']}) | {bound['tp']} / {bound['fp']} "
            f"| {bound['epsilon']:.2f} (most {bound['max_attainable']:.2f}) | {verdict} | {result['commit']} "
            f"| `{result['command']}` |")


MEMBERSHIP = Table(
    name="membership",
    title="Membership inference and canaries on a fine-tune (`dpldm audit membership`)",
    header=("| run | accountant epsilon | records: AUC [95% CI] | records: TPR at 1% / 0.1% FPR "
            "| canaries: AUC [95% CI] | canaries: TPR at 1% / 0.1% FPR | empirical epsilon lower bound (95%; most this "
            "audit can show) "
            "| fine-tune | commit | command |\n"
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"),
    row=membership_row, producer="dpldm audit membership", section=SECTION)

WHITEBOX = Table(
    name="whitebox",
    title="White-box gradient canary against the DP-SGD engine (`dpldm audit whitebox`)",
    header=("| adversary | accountant epsilon | sigma / q / steps | runs (evaluated in / out) | TP / FP "
            "| empirical epsilon lower bound (95%; most this audit can show) | verdict | commit | command |\n"
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"),
    row=whitebox_row, producer="dpldm audit whitebox", section=SECTION)


def record_membership(path: Path, result: dict[str, Any]) -> Path:
    """Save a membership audit's published fields (MEMBERSHIP_FIELDS) as its row's file under
    benchmarks/results/membership/ beside the markdown file ``path`` (a rerun of the same command replaces it) and
    regenerate the table; returns the row's file."""
    return record(path, MEMBERSHIP, {key: result[key] for key in MEMBERSHIP_FIELDS if key in result})


def record_whitebox(path: Path, result: dict[str, Any]) -> Path:
    """The same for a white-box audit (all of its result: nothing in it is private)."""
    return record(path, WHITEBOX, result)


def record(path: Path, table: Table, result: dict[str, Any]) -> Path:
    saved = save_result(path, table, result)
    regenerate(path, table)
    return saved
