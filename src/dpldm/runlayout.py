"""Which files of a run folder may be published, and which must stay with the data holder.

Every run folder has one rule: the files at its top level (and in its ``model/`` folder) are releasable; everything
under ``private/`` is derived from private data without differential privacy and must never be published. ``private/``
holds the cached private latents (they decode to the private images), resumable checkpoints (optimizer state and
random-generator states), logs and summaries with exact counts. A file goes to ``private/`` unless its content is
covered by the run's privacy statement (the DP model, its samples, ``privacy.json``) or depends on public data only.
"""

from __future__ import annotations

from pathlib import Path

PRIVATE = "private"  # the subfolder of a run folder for files that must never be published

_NOTICE = """\
PRIVATE: do not publish anything in this folder.

These files are derived from the private data without differential privacy: cached private latents (they decode
to the private images), checkpoints with optimizer and random-generator states, logs and summaries with exact counts.
The files outside this folder are the releasable part of the run.
"""


def private_dir(run: str | Path) -> Path:
    """``run/private``, created with a notice inside that says what it holds and that it stays private."""
    folder = Path(run) / PRIVATE
    folder.mkdir(parents=True, exist_ok=True)
    notice = folder / "README.txt"
    if not notice.is_file():
        notice.write_text(_NOTICE)
    return folder


def is_private(run: str | Path, path: str | Path) -> bool:
    """Whether ``path`` (inside ``run``) lies in the run's private part."""
    relative = Path(path).resolve().relative_to(Path(run).resolve())
    return relative.parts[:1] == (PRIVATE,)
