"""The test-only configs (tests/configs/*.yaml: tiny models trained in seconds), by path: `dpldm` finds only its
bundled configs (src/dpldm/configs) by name, and these are not bundled, so they never pass for real recipes."""

from __future__ import annotations

from pathlib import Path

CONFIGS = Path(__file__).resolve().parent / "configs"


def tiny(name: str) -> str:
    """The path of tests/configs/NAME.yaml, for ``--config`` or ``QualitySettings.config``."""
    path = CONFIGS / f"{name}.yaml"
    assert path.is_file(), path
    return str(path)
