"""Which code produced a result: the commit recorded beside benchmark and audit numbers.

Shared by ``dpldm.bench`` and ``dpldm.audit`` (and their commands), which must not import one another.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def git_commit(package: Path = Path(__file__).resolve().parent) -> str:
    """The checkout's commit (with '+dirty' for uncommitted changes under ``package``, by default this package's
    code and configs), or 'unknown' outside a git checkout. Other files do not count: the benchmarks themselves
    rewrite BENCHMARKS.md."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=package, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "."], cwd=package,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")
