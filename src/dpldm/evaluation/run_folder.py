"""Reading a run folder for the report: every artefact is optional, and what is missing or unreadable is said.

A run folder (see STYLE.md, "self-describing runs") may hold: config.yaml (resolved config), log.jsonl (one JSON
object per line, with ``step``, ``loss`` and for DP runs ``epsilon``), privacy.json (the ledger), samples.npz
(images, labels), samples.png (a grid), epsilon.png, metrics.json (from ``dpldm evaluate --out``).

Only the releasable part is read (``dpldm.runlayout``): the report lies beside it and may be published with it.
Of ``private/`` (a DP run's log, checkpoint, latents) the report names the files, never their content. Per-epoch
validation counts, which an older ``dpldm evaluate`` wrote into metrics.json (noise-free counts of private records),
are dropped on reading.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dpldm.errors import DpldmError
from dpldm.runlayout import PRIVATE, describe

ARTEFACTS = {
    "config.yaml": "resolved config",
    "log.jsonl": "training log",
    "privacy.json": "privacy ledger",
    "samples.npz": "samples",
    "samples.png": "sample grid image",
    "metrics.json": "evaluation metrics",
}
# Keys an older `dpldm evaluate accuracy` wrote: noise-free counts and accuracies of private validation records.
PRIVATE_METRIC_KEYS = ("validation_correct", "validation_accuracy")


@dataclass
class RunFolder:
    path: Path
    config_text: str | None = None
    log: list[dict[str, Any]] = field(default_factory=list)  # one dict per JSONL line that parsed
    privacy: dict[str, Any] | None = None
    sample_images: np.ndarray | None = None  # uint8 (N, H, W) | (N, H, W, 3)
    sample_labels: np.ndarray | None = None  # int64 (N,)
    samples_png: bytes | None = None
    epsilon_png: bytes | None = None
    metrics: dict[str, Any] | None = None
    files: list[tuple[str, bool, str]] = field(default_factory=list)  # (path, releasable, what), runlayout.describe
    notes: list[str] = field(default_factory=list)  # what is absent or could not be read

    def series(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps (K,), values (K,)) of the log lines that carry both ``step`` and a numeric ``key``."""
        rows = [(r["step"], r[key]) for r in self.log
                if isinstance(r.get("step"), (int, float)) and isinstance(r.get(key), (int, float))]
        return (np.array([s for s, _ in rows], dtype=float), np.array([v for _, v in rows], dtype=float))


def _read_json(path: Path, run: RunFolder) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        run.notes.append(f"{path.name}: unreadable ({type(err).__name__}: {err})")
        return None


def _read_log(path: Path, run: RunFolder) -> None:
    bad = 0
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(row, dict):
            run.log.append(row)
    if bad:
        run.notes.append(f"log.jsonl: {bad} line(s) were not JSON and were skipped")


def _read_samples(path: Path, run: RunFolder) -> None:
    try:
        with np.load(path, allow_pickle=False) as archive:
            image_key = next((k for k in ("images", "x") if k in archive.files), None)
            label_key = next((k for k in ("labels", "y") if k in archive.files), None)
            if image_key is None:
                run.notes.append(f"samples.npz: no 'images' array (has {', '.join(archive.files)})")
                return
            run.sample_images = archive[image_key]
            run.sample_labels = archive[label_key].astype(np.int64) if label_key else None
    except (OSError, ValueError) as err:
        run.notes.append(f"samples.npz: unreadable ({type(err).__name__})")


def drop_private_counts(value: Any) -> int:
    """Remove PRIVATE_METRIC_KEYS from every dict nested in ``value`` (in place); returns how many were removed."""
    removed = 0
    if isinstance(value, dict):
        for key in PRIVATE_METRIC_KEYS:
            removed += value.pop(key, None) is not None
        values = value.values()
    elif isinstance(value, list):
        values = value
    else:
        return 0
    return removed + sum(drop_private_counts(v) for v in values)


def read_run_folder(path: str | Path) -> RunFolder:
    """Everything readable in ``path``; DpldmError only when the folder itself is missing."""
    folder = Path(path)
    if not folder.is_dir():
        raise DpldmError(f"run folder {folder} not found")
    run = RunFolder(folder, files=describe(folder))
    for name, what in ARTEFACTS.items():
        if (folder / PRIVATE / name).is_file():
            run.notes.append(f"{name} ({what}) is private ({PRIVATE}/{name}): not shown")
        elif not (folder / name).is_file():
            run.notes.append(f"{name} ({what}) is absent")
    if (folder / "config.yaml").is_file():
        run.config_text = (folder / "config.yaml").read_text(errors="replace")
    if (folder / "log.jsonl").is_file():
        _read_log(folder / "log.jsonl", run)
    if (folder / "privacy.json").is_file():
        run.privacy = _read_json(folder / "privacy.json", run)
    if (folder / "metrics.json").is_file():
        run.metrics = _read_json(folder / "metrics.json", run)
        if removed := drop_private_counts(run.metrics):
            run.notes.append(f"metrics.json: {removed} noise-free private validation count field(s) (written by an "
                             f"older dpldm) left out of the report; remove them before publishing metrics.json")
    if (folder / "samples.npz").is_file():
        _read_samples(folder / "samples.npz", run)
    if (folder / "samples.png").is_file():
        run.samples_png = (folder / "samples.png").read_bytes()
    if (folder / "epsilon.png").is_file():
        run.epsilon_png = (folder / "epsilon.png").read_bytes()
    return run
