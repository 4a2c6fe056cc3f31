"""The audit tables in BENCHMARKS.md, generated from benchmarks/results/{membership,whitebox}/*.json: created under
one section, one row per command (a rerun replaces it), prose and earlier rows kept, regenerating changes nothing."""

from __future__ import annotations

import json

from dpldm.audit.table import (MEMBERSHIP, MEMBERSHIP_FIELDS, SECTION, WHITEBOX, record_membership,
                               record_whitebox)
from dpldm.bench.tables import regenerate_tables


def membership_result(label: str, command: str, **changes) -> dict:
    metrics = {"auc": 0.5, "auc_interval": [0.4, 0.6], "rates": [{"max_fpr": 0.01, "tpr": 0.0}]}
    return {"audit": "membership", "label": label, "accountant_epsilon": 1.0, "steps": 10, "records": metrics,
            "canaries": metrics, "bound_within_claim": True, "finetune_wall_s": 60.0, "commit": "abc",
            "command": command, "out": "runs/audit/x", "records_auc_by_timestep": {"10": 0.5},
            "epsilon_lower_bound": {"epsilon": 0.0, "tp": 1, "fp": 1, "n_in": 2, "n_out": 2,
                                    "max_attainable": 0.5}, **changes}


def whitebox_result(command: str, seed_known: bool) -> dict:
    return {"config": {"accountant": "prv", "steps": 8, "trials": 10}, "seed_known": seed_known,
            "noise_multiplier": 5.0, "sample_rate": 0.5, "accountant_epsilon": 1.0, "bound_within_claim": True,
            "epsilon_lower_bound": {"epsilon": 0.0, "tp": 2, "fp": 2, "n_in": 4, "n_out": 4, "max_attainable": 1.0},
            "commit": "abc", "command": command}


def table_rows(text: str, table) -> list[str]:
    block = text[text.index(table.begin):text.index(table.end)]
    return [line for line in block.split("\n") if line.startswith("| ") and "`" in line]


def test_rows_go_into_their_table_and_a_rerun_replaces_its_row(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\n## Demo\n\nprose\n")
    record_membership(path, membership_result("a", "cmd a"))
    record_whitebox(path, whitebox_result("cmd w", seed_known=True))
    record_membership(path, membership_result("b", "cmd b"))
    record_membership(path, membership_result("a again", "cmd a"))  # rerun of the first command
    text = path.read_text()
    assert text.count(SECTION) == 1 and "## Demo\n\nprose\n" in text
    assert text.index(SECTION) < text.index(f"### {MEMBERSHIP.title}") < text.index(MEMBERSHIP.begin)
    assert text.index(MEMBERSHIP.end) < text.index(f"### {WHITEBOX.title}") < text.index(WHITEBOX.begin)
    membership = table_rows(text, MEMBERSHIP)
    assert [row.split(" | ")[0] for row in membership] == ["| a again", "| b"]  # replaced in place, b kept
    assert len(list((tmp_path / "benchmarks" / "results" / "membership").glob("*.json"))) == 2
    assert [row.split(" | ")[0] for row in table_rows(text, WHITEBOX)] == ["| seed handed over"]
    # A membership row file keeps only the published fields, not the private run's folder or per-timestep AUCs.
    saved = [json.loads(p.read_text()) for p in (tmp_path / "benchmarks" / "results" / "membership").glob("*.json")]
    assert all(set(row) <= {*MEMBERSHIP_FIELDS, "recorded"} and "out" not in row for row in saved)

    # A section after the audit's keeps its place, and new tables go inside the audit section.
    path.write_text(text + "\n## Later\n\nmore\n")
    record_whitebox(path, whitebox_result("cmd w", seed_known=False))
    record_whitebox(path, whitebox_result("cmd w2", seed_known=True))
    text = path.read_text()
    assert text.index(WHITEBOX.end) < text.index("## Later") and text.endswith("## Later\n\nmore\n")
    assert [row.split(" | ")[0] for row in table_rows(text, WHITEBOX)] == ["| secret entropy", "| seed handed over"]


def test_regenerating_twice_changes_nothing_and_keeps_the_prose(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n")
    record_membership(path, membership_result("a", "cmd a"))
    record_whitebox(path, whitebox_result("cmd w", seed_known=False))
    text = path.read_text().replace(f"### {WHITEBOX.title}\n", f"### {WHITEBOX.title}\n\nProse by hand.\n")
    path.write_text(text)
    changed = regenerate_tables(path)
    assert not changed["membership"] and not changed["whitebox"]
    assert path.read_text() == text
    # Rows edited by hand inside the block are put back from the files.
    path.write_text(text.replace("| secret entropy |", "| edited |"))
    assert regenerate_tables(path)["whitebox"] and path.read_text() == text
    assert not any(regenerate_tables(path).values())
