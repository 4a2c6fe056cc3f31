"""Benchmark results as data: one committed JSON file per row, and the tables of BENCHMARKS.md generated from them.

A benchmark that records a row writes ``benchmarks/results/<table>/<id>.json`` beside the markdown file (the id is
a hash of the command that made the row, so rerunning a command replaces its row) and then regenerates the
markdown; ``dpldm bench tables`` regenerates every table from the committed files, and doing so twice changes
nothing. In the markdown, a generated table sits between its two markers; the narrative around it is written by
hand and never touched. As opacus's ``benchmarks/`` does it: run, save the raw results, generate the report.
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
    name: str  # folder under benchmarks/results, and the markers' name
    title: str  # section heading, used when the markdown has no such table yet
    header: str  # markdown header and separator lines
    row: Callable[[dict[str, Any]], str]  # one result -> one markdown row

    @property
    def begin(self) -> str:
        return (f"<!-- dpldm bench {self.name}: generated from benchmarks/results/{self.name}/*.json by "
                f"`dpldm bench tables`; edit those files, not these rows -->")

    @property
    def end(self) -> str:
        return f"<!-- end of dpldm bench {self.name} -->"


def results_dir(markdown: Path, table: Table) -> Path:
    return markdown.resolve().parent / "benchmarks" / "results" / table.name


def result_id(command: str) -> str:
    """The file name of a row: the same command (re)writes the same file."""
    return hashlib.sha256(command.encode()).hexdigest()[:12]


def save_result(markdown: Path, table: Table, result: dict[str, Any]) -> Path:
    """Write ``result`` (JSON-able, with its ``command``) as its table's row file; keeps the first recording time of
    a rerun command, so rows keep their order."""
    if not result.get("command"):
        raise DpldmError("a benchmark result needs the command that made it, to name its row")
    path = results_dir(markdown, table) / f"{result_id(result['command'])}.json"
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
    """The generated block: markers, header and one row per result file."""
    rows = [table.row(result) for result in load_results(markdown, table)]
    return "\n".join([table.begin, table.header, *rows, table.end])


def regenerate(markdown: Path, table: Table) -> bool:
    """Rewrite ``table``'s block in ``markdown`` from its result files (adding a section at the end when the file
    has none); returns whether the file changed."""
    text = markdown.read_text() if markdown.is_file() else "# Benchmarks\n"
    block = render(markdown, table)
    if table.begin in text:
        start = text.index(table.begin)
        if table.end not in text[start:]:
            raise DpldmError(f"{markdown}: the {table.name} table's end marker is missing ({table.end})")
        stop = text.index(table.end, start) + len(table.end)
        new = text[:start] + block + text[stop:]
    else:
        new = text.rstrip("\n") + f"\n\n## {table.title}\n\n{block}\n"
    if new == text:
        return False
    tmp = markdown.with_name(markdown.name + ".tmp")
    tmp.write_text(new)
    tmp.replace(markdown)
    return True
