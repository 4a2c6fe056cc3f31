"""Resumable training checkpoints: every tensor in one safetensors file, everything else as JSON beside it.

A training state is any nesting of dicts and lists holding tensors and JSON values (model and optimizer state
dicts, EMA, generator states, step). ``flatten`` moves the tensors out under dotted keys and leaves a JSON
skeleton; the skeleton also travels inside the safetensors header, so the one file written last (by an atomic
rename) is the whole checkpoint, and an interrupted or failed save never leaves a half-written one behind.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from dpldm.bundle import sha256_file
from dpldm.errors import DpldmError

_TENSOR = "__tensor__"


def flatten(state: Any, prefix: str = "") -> tuple[Any, dict[str, torch.Tensor]]:
    """Nested state -> (JSON skeleton, {dotted key: tensor})."""
    tensors: dict[str, torch.Tensor] = {}

    def walk(node: Any, key: str) -> Any:
        if isinstance(node, torch.Tensor):
            tensors[key] = node.detach().cpu().contiguous()
            return {_TENSOR: key}
        if isinstance(node, dict):
            return {"__dict__": [[walk(k, f"{key}.k{i}") if isinstance(k, torch.Tensor) else k,
                                  walk(v, f"{key}.{i}")] for i, (k, v) in enumerate(node.items())]}
        if isinstance(node, (list, tuple)):
            return {"__list__": [walk(v, f"{key}.{i}") for i, v in enumerate(node)], "tuple": isinstance(node, tuple)}
        return node

    return walk(state, prefix or "state"), tensors


def unflatten(skeleton: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """The inverse of ``flatten``."""
    if isinstance(skeleton, dict):
        if _TENSOR in skeleton:
            return tensors[skeleton[_TENSOR]]
        if "__dict__" in skeleton:
            return {k: unflatten(v, tensors) for k, v in skeleton["__dict__"]}
        if "__list__" in skeleton:
            items = [unflatten(v, tensors) for v in skeleton["__list__"]]
            return tuple(items) if skeleton.get("tuple") else items
    return skeleton


def save_checkpoint(path: str | Path, state: dict[str, Any], *, info: dict[str, Any] | None = None) -> Path:
    """Write ``state`` to ``path`` (.safetensors) atomically, with a readable ``path.json`` beside it.

    info: JSON facts for people (config, step, loss); not needed to resume.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    skeleton, tensors = flatten(state)
    header = {"skeleton": json.dumps(skeleton), "info": json.dumps(info or {})}
    tmp = path.with_name(path.name + ".tmp")
    # Write a temporary file, flush it to disk, then rename it over the previous checkpoint: a failed write (a full
    # disk, a kill) leaves the previous checkpoint whole, never a mix of the two.
    try:
        save_file(tensors, str(tmp), metadata=header)
        _fsync(tmp)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, (OSError, SafetensorError)):
            raise DpldmError(f"could not write checkpoint {path} ({type(err).__name__}: {err}); the previous one "
                             f"is kept") from None
        raise
    os.replace(tmp, path)
    try:
        _fsync(path.parent)  # the rename itself; some filesystems cannot sync a folder, and lose only that
    except OSError:
        pass
    side = {"file": path.name, "sha256": sha256_file(path), **(info or {})}
    tmp_json = path.with_suffix(".json.tmp")
    tmp_json.write_text(json.dumps(side, indent=2))
    os.replace(tmp_json, path.with_suffix(".json"))
    return path


def _fsync(path: Path) -> None:
    """Flush a file (or a folder's entries) to disk, so a rename after it never exposes unwritten data."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_checkpoint(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """-> (state, info) as saved by ``save_checkpoint``."""
    path = Path(path)
    if not path.is_file():
        raise DpldmError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as err:
        raise DpldmError(f"{path}: not a readable checkpoint ({type(err).__name__}: {err})") from None
    if "skeleton" not in header:
        raise DpldmError(f"{path}: not a dpldm training checkpoint (no state skeleton in its header)")
    return unflatten(json.loads(header["skeleton"]), tensors), json.loads(header.get("info", "{}"))


def capture(**parts: Any) -> dict[str, Any]:
    """A training state from its parts: modules, optimizers, schedulers, EMA and engines by ``state_dict()``,
    generators by ``get_state()``, plain values (the step) as they are."""
    state = {}
    for name, part in parts.items():
        if isinstance(part, torch.Generator):
            state[name] = part.get_state()
        elif hasattr(part, "state_dict"):
            state[name] = part.state_dict()
        else:
            state[name] = part
    return state


def restore(path: str | Path, **parts: Any) -> dict[str, Any]:
    """Load the checkpoint at ``path`` into ``parts`` (the inverse of ``capture``); returns the raw state, from
    which the caller reads its plain values."""
    state, _ = load_checkpoint(path)
    missing = sorted(set(parts) - set(state))
    if missing:
        raise DpldmError(f"{path}: checkpoint lacks {', '.join(missing)}; it was written by another stage or config")
    for name, part in parts.items():
        if isinstance(part, torch.Generator):
            part.set_state(state[name])
        else:
            part.load_state_dict(state[name])
    return state
