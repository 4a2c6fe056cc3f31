"""Fixtures of the data tests: the optional real data found through $DPLDM_DATA."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def shared_data() -> Path:
    """The offline datasets folder named by $DPLDM_DATA; tests using it skip when it is not set."""
    root = os.environ.get("DPLDM_DATA")
    if not root or not Path(root).is_dir():
        pytest.skip("real datasets not available: set DPLDM_DATA to the shared data folder")
    return Path(root)
