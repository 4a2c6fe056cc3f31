"""The public models that ship with dpldm (trained by this project's own commands on public data only).

Each lives in ``dpldm/checkpoints/<name>/``: a model folder (see ``dpldm.bundle``) plus ``manifest.json`` with the
config, the exact commands, the data, seed, steps, final loss, wall time and the sha256 of every file; loading
checks every sha256 against the manifest.
"""

from __future__ import annotations

import json
from pathlib import Path

from dpldm.bundle import LatentDiffusion, load_bundle
from dpldm.errors import DpldmError
from dpldm.training.checkpoint import sha256_file

CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"


def bundled_models() -> dict[str, Path]:
    """name -> folder of every shipped public model."""
    if not CHECKPOINTS.is_dir():
        return {}
    return {p.name: p for p in sorted(CHECKPOINTS.iterdir()) if (p / "manifest.json").is_file()}


def verify_manifest(folder: Path) -> dict:
    manifest = json.loads((folder / "manifest.json").read_text())
    for name, digest in manifest.get("sha256", {}).items():
        path = folder / name
        if not path.is_file():
            raise DpldmError(f"{folder.name}: file {name} listed in manifest.json is missing")
        if sha256_file(path) != digest:
            raise DpldmError(f"{path}: sha256 does not match manifest.json (file changed or corrupt)")
    return manifest


def resolve_model(name_or_path: str | Path) -> LatentDiffusion:
    """A model folder path, or the name of a shipped public model (checked against its manifest)."""
    path = Path(name_or_path)
    if (path / "model.json").is_file():
        return load_bundle(path)
    shipped = bundled_models()
    if str(name_or_path) in shipped:
        folder = shipped[str(name_or_path)]
        verify_manifest(folder)
        return load_bundle(folder)
    raise DpldmError(f"no model at '{name_or_path}': give a folder with model.json, or one of the shipped "
                     f"public models: {', '.join(shipped) or '(none installed)'}")
