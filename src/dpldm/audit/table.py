"""The audits' tables in BENCHMARKS.md, generated from their results: one row per command, rerun = replaced.

Both tables live under one "Privacy audit" section; each has a marker line the rows are inserted above, so prose
written around a table survives reruns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SECTION = "## Privacy audit (`dpldm audit`)"


@dataclass(frozen=True)
class Table:
    title: str  # "### ..." heading of the table
    header: str  # markdown header and separator lines
    marker: str  # HTML comment the rows go above


MEMBERSHIP = Table(
    title="### Membership inference and canaries on a fine-tune (`dpldm audit membership`)",
    header=("| run | accountant epsilon | records: AUC [95% CI] | records: TPR at 1% / 0.1% FPR "
            "| canaries: AUC [95% CI] | canaries: TPR at 1% / 0.1% FPR | empirical epsilon lower bound (95%; most this "
            "audit can show) "
            "| fine-tune | commit | command |\n"
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"),
    marker="<!-- dpldm audit membership: rows are added above this line -->")

WHITEBOX = Table(
    title="### White-box gradient canary against the DP-SGD engine (`dpldm audit whitebox`)",
    header=("| adversary | accountant epsilon | sigma / q / steps | runs (evaluated in / out) | TP / FP "
            "| empirical epsilon lower bound (95%; most this audit can show) | verdict | commit | command |\n"
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"),
    marker="<!-- dpldm audit whitebox: rows are added above this line -->")


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


def record_row(path: Path, table: Table, row: str, command: str) -> None:
    """Put ``row`` in ``table`` of the markdown file ``path`` (both created when missing); a row ending in the same
    command cell is replaced, so rerunning a command updates its row."""
    text = path.read_text() if path.is_file() else "# Benchmarks\n"
    if SECTION not in text:
        text = text.rstrip("\n") + f"\n\n{SECTION}\n"
    if table.marker not in text:
        lines = text.split("\n")
        at = lines.index(SECTION) + 1
        while at < len(lines) and not lines[at].startswith("## "):  # the end of the section
            at += 1
        while at > 0 and not lines[at - 1].strip():
            at -= 1
        block = ["", table.title, "", *table.header.split("\n"), table.marker]
        lines[at:at] = block + ([""] if at < len(lines) and lines[at].strip() else [])
        text = "\n".join(lines)
    lines = text.split("\n")
    command_cell = f"| `{command}` |"
    lines = [line for line in lines if not (line.startswith("| ") and line.endswith(command_cell))]
    lines.insert(lines.index(table.marker), row)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines).rstrip("\n") + "\n")
    tmp.replace(path)
