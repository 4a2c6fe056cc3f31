"""The audit tables in BENCHMARKS.md: created under one section, rows replaced by command, prose kept."""

from __future__ import annotations

from dpldm.audit.table import MEMBERSHIP, SECTION, WHITEBOX, record_row


def test_rows_go_into_their_table_and_a_rerun_replaces_its_row(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\n## Demo\n\nprose\n")
    record_row(path, MEMBERSHIP, "| a | 1 | `cmd a` |", "cmd a")
    record_row(path, WHITEBOX, "| w | 2 | `cmd w` |", "cmd w")
    record_row(path, MEMBERSHIP, "| b | 3 | `cmd b` |", "cmd b")
    record_row(path, MEMBERSHIP, "| a | 4 | `cmd a` |", "cmd a")  # rerun of the first command
    text = path.read_text()
    assert text.count(SECTION) == 1 and "## Demo\n\nprose\n" in text
    lines = text.split("\n")
    membership = lines[lines.index(MEMBERSHIP.title):lines.index(MEMBERSHIP.marker)]
    whitebox = lines[lines.index(WHITEBOX.title):lines.index(WHITEBOX.marker)]
    assert [line for line in membership if line.startswith("| ") and "`" in line] == ["| b | 3 | `cmd b` |",
                                                                                     "| a | 4 | `cmd a` |"]
    assert [line for line in whitebox if "`cmd" in line] == ["| w | 2 | `cmd w` |"]
    # A section after the audit's keeps its place, and new tables go inside the audit section.
    path.write_text(text + "\n## Later\n\nmore\n")
    record_row(path, WHITEBOX, "| w | 5 | `cmd w` |", "cmd w")
    text = path.read_text()
    assert text.index("| w | 5 |") < text.index("## Later") and "| w | 2 |" not in text
