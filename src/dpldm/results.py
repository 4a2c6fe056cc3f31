"""Benchmark results as data: one committed JSON file per row, and the tables of BENCHMARKS.md generated from them.

A command that records a row (``dpldm bench quality``, ``dpldm bench ablation``, ``dpldm audit ...``) writes
``benchmarks/results/<table>/<id>.json`` beside the markdown file (the id is a hash of the command that made the
row, and of the row's other key fields, so rerunning a command replaces its row) and then regenerates the markdown;
``dpldm bench tables`` regenerates every table from the committed files, and doing so twice changes nothing. In the
markdown, a generated table sits between its two markers; the narrative around it is written by hand and never
touched. As opacus's ``benchmarks/`` does it: run, save the raw results, generate the report.

This module knows nothing of what the tables hold, so that every part that records rows (bench, audit) can use it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from dpldm.errors import DpldmError
from dpldm.runsettings import write_json


@dataclass(frozen=True)
class Table:
    name: str  # folder under benchmarks/results, and the table's name
    title: str  # heading of the table, used when the markdown has no such table yet
    header: str  # markdown header and separator lines
    row: Callable[[dict[str, Any]], str]  # one result -> one markdown row
    # The fields that name a row: results with the same values (re)write the same file. More than the command when
    # one command makes several rows (the ablation's variants).
    key: tuple[str, ...] = ("command",)
    # Text above the table, made from the results of one command; with it, each command gets its own captioned
    # table (in the order the commands were first recorded). None: one table of every row.
    caption: Callable[[list[dict[str, Any]]], str] | None = None
    # The command that records the rows, named in the markers (default: ``dpldm bench NAME``).
    producer: str = ""
    # Where a new table goes when the markdown has none: None, a new "## TITLE" section at the end of the file;
    # else a "### TITLE" at the end of the section with this heading line (which is made when missing).
    section: str | None = None

    @property
    def made_by(self) -> str:
        return self.producer or f"dpldm bench {self.name}"

    @property
    def begin(self) -> str:
        return (f"<!-- {self.made_by}: generated from benchmarks/results/{self.name}/*.json by "
                f"`dpldm bench tables`; edit those files, not these rows -->")

    @property
    def end(self) -> str:
        return f"<!-- end of {self.made_by} -->"


def results_dir(markdown: Path, table: Table) -> Path:
    return markdown.resolve().parent / "benchmarks" / "results" / table.name


def result_id(command: str, *more: str) -> str:
    """The file name of a row: the same command (and the same other key fields) (re)writes the same file."""
    return hashlib.sha256("\n".join((command, *more)).encode()).hexdigest()[:12]


def save_result(markdown: Path, table: Table, result: dict[str, Any]) -> Path:
    """Write ``result`` (JSON-able, with its ``command`` and the table's other key fields) as its table's row file;
    keeps the first recording time of a rerun command, so rows keep their order."""
    if not result.get("command"):
        raise DpldmError("a benchmark result needs the command that made it, to name its row")
    missing = [name for name in table.key if result.get(name) in (None, "")]
    if missing:
        raise DpldmError(f"a {table.name} result needs {', '.join(missing)}, to name its row")
    path = results_dir(markdown, table) / f"{result_id(*(str(result[name]) for name in table.key))}.json"
    recorded = json.loads(path.read_text()).get("recorded") if path.is_file() else None
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {**result, "recorded": recorded or datetime.now().isoformat(timespec="microseconds")})
    return path


def load_results(markdown: Path, table: Table) -> list[dict[str, Any]]:
    """Every row file of ``table``, oldest recording first."""
    folder = results_dir(markdown, table)
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    results = []
    for path in files:
        try:
            results.append(json.loads(path.read_text()))
        except json.JSONDecodeError as err:
            raise DpldmError(f"{path}: not a JSON benchmark result ({err})") from None
    return sorted(results, key=lambda r: (str(r.get("recorded", "")), str(r.get("command", ""))))


def render(markdown: Path, table: Table) -> str:
    """The generated block: markers, then the header and one row per result file (with a caption: per command,
    its caption, a blank line, the header and its rows)."""
    results = load_results(markdown, table)
    if table.caption is None or not results:
        return "\n".join([table.begin, table.header, *(table.row(result) for result in results), table.end])
    groups: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        groups.setdefault(str(result["command"]), []).append(result)
    blocks = ["\n".join([table.caption(group), "", table.header, *(table.row(result) for result in group)])
              for group in groups.values()]
    return "\n".join([table.begin, "\n\n".join(blocks), table.end])


def regenerate(markdown: Path, table: Table) -> bool:
    """Rewrite ``table``'s block in ``markdown`` from its result files (adding the table when the file has none but
    there are results: see ``Table.section``); returns whether the file changed."""
    text = markdown.read_text() if markdown.is_file() else "# Benchmarks\n"
    if table.begin not in text and not load_results(markdown, table):
        return False  # no table and nothing to put in one
    block = render(markdown, table)
    if table.begin in text:
        start = text.index(table.begin)
        if table.end not in text[start:]:
            raise DpldmError(f"{markdown}: the {table.name} table's end marker is missing ({table.end})")
        stop = text.index(table.end, start) + len(table.end)
        new = text[:start] + block + text[stop:]
    elif table.section is None:
        new = text.rstrip("\n") + f"\n\n## {table.title}\n\n{block}\n"
    else:
        new = add_to_section(text, table.section, ["", f"### {table.title}", "", *block.split("\n")])
    if new == text:
        return False
    tmp = markdown.with_name(markdown.name + ".tmp")
    tmp.write_text(new)
    tmp.replace(markdown)
    return True


def add_to_section(text: str, section: str, lines: list[str]) -> str:
    """``text`` with ``lines`` at the end of the section headed ``section`` (added at the end when missing), before
    the blank lines that end it."""
    if section not in text.split("\n"):
        text = text.rstrip("\n") + f"\n\n{section}\n"
    all_lines = text.split("\n")
    at = all_lines.index(section) + 1
    while at < len(all_lines) and not all_lines[at].startswith("## "):  # the next section, or the end
        at += 1
    while at > 0 and not all_lines[at - 1].strip():
        at -= 1
    all_lines[at:at] = lines + ([""] if at < len(all_lines) and all_lines[at].strip() else [])
    return "\n".join(all_lines).rstrip("\n") + "\n"
