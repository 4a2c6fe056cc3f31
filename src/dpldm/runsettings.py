"""A run folder is never silently reused with other settings: the settings saved in it are the truth.

Every command that writes into an existing folder (a resumed training stage, ``dpldm sample --out``, a stage of
``dpldm bench quality``) first compares the settings it was given with the ones saved there, and refuses any
difference with a one-line error naming the changed keys, before it writes anything. Keys that cannot change a
result (CPU threads, how often to log or checkpoint, the folder's own path) are named by the caller and may differ.
A resumed run therefore continues exactly the run its folder describes, as NVlabs/edm's run directories do.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from dpldm.errors import DpldmError

_ABSENT = "<absent>"


def changed_keys(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested dicts."""
    keys = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, _ABSENT), new.get(key, _ABSENT)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += changed_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            keys.append(f"{prefix}{key}")
    return keys


def differences(old: dict[str, Any], new: dict[str, Any], *, ignore: Iterable[str] = ()) -> list[str]:
    """``changed_keys`` less the ``ignore``d keys (a dotted key, or a section with everything under it)."""
    ignored = tuple(ignore)
    return [key for key in changed_keys(old, new)
            if not any(key == i or key.startswith(i + ".") for i in ignored)]


def _value(settings: dict[str, Any], dotted: str) -> str:
    node: Any = settings
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return _ABSENT
        node = node[part]
    if isinstance(node, str) and len(node) > 40:  # a digest or a long path: its start tells them apart
        return node[:12] + "..."
    text = json.dumps(node, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def refuse_other_settings(subject: str, old: dict[str, Any], new: dict[str, Any], *, ignore: Iterable[str] = (),
                          remedy: str) -> None:
    """Raise a one-line DpldmError ("SUBJECT with other settings (changed: k old -> new, ...); REMEDY") when
    ``old`` and ``new`` differ in a key that is not ignored. subject: e.g. "runs/x holds a run made"."""
    keys = differences(old, new, ignore=ignore)
    if keys:
        changes = ", ".join(f"{k} {_value(old, k)} -> {_value(new, k)}" for k in keys)
        raise DpldmError(f"{subject} with other settings (changed: {changes}); {remedy}")


def read_settings(path: Path) -> dict[str, Any] | None:
    """The settings saved at ``path`` (YAML, which includes JSON), or None when there are none."""
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        raise DpldmError(f"{path}: not readable YAML; cannot tell which settings this folder was made with") from None
    if not isinstance(data, dict):
        raise DpldmError(f"{path}: not a mapping of settings; cannot tell which settings this folder was made with")
    return data


def check_folder(folder: Path, record: str, settings: dict[str, Any], *, ignore: Iterable[str] = (),
                 what: str = "a run") -> bool:
    """Refuse to reuse ``folder`` when its ``record`` file holds other settings than ``settings``; writes nothing.

    what: what the folder holds, for the message ("FOLDER holds a run made with other settings ...").
    returns: whether the folder already holds a run with these settings (a resume).
    """
    saved = read_settings(folder / record)
    if saved is None:
        return False
    refuse_other_settings(f"{folder} holds {what} made", saved, settings, ignore=ignore,
                          remedy=f"use another --out, or remove {folder} to start over")
    return True


def write_settings(path: Path, settings: dict[str, Any]) -> Path:
    """Save ``settings`` as YAML atomically (a temporary file, then a rename), so the record is never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(settings, sort_keys=False))
    os.replace(tmp, path)
    return path


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON atomically: a temporary file, then a rename (an interruption never leaves half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str))
    tmp.replace(path)


def run_stage(folder: Path, name: str, fn: Callable[[], dict[str, Any]], say: Callable[[str], None], *,
              inputs: dict[str, Any], commit: str = "unknown", ignore: Iterable[str] = ()) -> dict[str, Any]:
    """``fn()``'s result, saved to FOLDER/<name>.json with its wall time, ``inputs`` (what it was computed from) and
    the ``commit`` of the code that computed it: one resumable stage of a multi-stage command (``dpldm bench
    quality``, ``dpldm audit membership``).

    A saved result is returned as it is when it was computed from the same inputs (but the ``ignore``d keys); from
    other inputs it is an error, so a rerun with other settings never mixes stale results into a row.
    """
    path = folder / f"{name}.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        refuse_other_settings(f"{path} was computed", saved.get("inputs") or {}, inputs, ignore=ignore,
                              remedy=f"use another --out, or delete {path} and the stages after it")
        say(f"{name}: done earlier ({path})")
        return saved
    say(f"{name}: running")
    start = time.time()
    result = {**fn(), "stage_wall_s": round(time.time() - start, 1), "inputs": inputs, "commit": commit}
    write_json(path, result)
    return result
