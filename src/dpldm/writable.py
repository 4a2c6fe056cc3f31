"""Check that an output folder can be written before any work (sampling, training) is spent on filling it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from dpldm.errors import DpldmError


def writable_folder(path: str | os.PathLike) -> Path:
    """Create ``path`` (and its parents) if needed and write and delete a probe file in it.

    A probe rather than ``os.access``, which answers from permission bits and is wrong on read-only mounts and for
    root. Raises a one-line DpldmError naming the folder when it cannot be written.
    """
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".dpldm-write-test-"):
            pass
    except FileExistsError:
        raise DpldmError(f"{folder}: exists and is not a folder; choose another output folder") from None
    except OSError as err:
        raise DpldmError(f"{folder}: cannot write there ({err.strerror or err}); choose another output "
                         f"folder") from None
    return folder
