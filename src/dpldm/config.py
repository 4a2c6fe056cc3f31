"""Typed configuration: YAML files loaded into dataclasses, with dotted overrides.

Every stage of the pipeline is driven by one dataclass (``PretrainConfig``, ``FinetuneConfig`` ...), defined
next to the code it configures. This module only knows how to turn YAML and ``--set a.b=value`` strings into
those dataclasses, and refuses anything it does not understand: an unknown key names the allowed ones, a value
of the wrong type names the expected type. Nothing is silently ignored or coerced.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

from dpldm.errors import DpldmError

T = TypeVar("T")

CONFIG_DIR = Path(__file__).resolve().parent / "configs"  # the bundled configs, found by name


class ConfigError(DpldmError, ValueError):
    """A configuration that cannot be used; the message is one line meant for the user."""


def from_dict(cls: type[T], data: dict[str, Any] | None, *, where: str = "") -> T:
    """Build dataclass ``cls`` from a plain dict, checking every key and type."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted((key for key in data if key not in fields), key=str)  # YAML keys may be numbers, not names
    if unknown:
        name = f"{where}.{unknown[0]}" if where else str(unknown[0])
        raise ConfigError(f"unknown config key {_show(name)}; allowed keys here: {', '.join(sorted(fields))}")
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        kwargs[key] = _convert(hints[key], value, path)
    try:
        obj = cls(**kwargs)
    except TypeError as err:  # a required field without a default
        raise ConfigError(f"{where or 'config'}: {err}") from None
    validate = getattr(obj, "validate", None)
    if callable(validate):
        try:
            validate()
        except ValueError as err:
            raise ConfigError(f"{where or 'config'}: {err}") from None
    return obj


def _show(value: Any, limit: int = 80) -> str:
    """A value for a one-line error: its repr, shortened (a huge integer has no repr in Python 3.11+)."""
    try:
        text = repr(value)
    except ValueError:
        return "a very long number"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where=path)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, path)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"'{path}' must be {' or '.join(_type_name(a) for a in args)}, got {_show(value)}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"'{path}' must be one of {', '.join(map(repr, args))}, got {_show(value)}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"'{path}' must be a list, got {_show(value)}")
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise ConfigError(f"'{path}' must have {len(args)} items, got {len(value)}")
            return tuple(_convert(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else Any
        items = [_convert(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"'{path}' must be a mapping, got {_show(value)}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"'{path}' must be true or false, got {_show(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"'{path}' must be an integer, got {_show(value)}")
        return value
    if tp is float:
        # YAML reads "1e-5" (no dot) as a string; accept it, as a user would expect.
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"'{path}' must be a number, got {_show(value)}")
        try:
            number = float(value)
        except OverflowError:  # an integer too large for a float
            raise ConfigError(f"'{path}' is too large a number") from None
        if math.isnan(number):  # NaN means nothing as a setting; infinities are left to each section's validate()
            raise ConfigError(f"'{path}' must be a number, got nan")
        return number
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"'{path}' must be a string, got {_show(value)}")
        return value
    raise ConfigError(f"'{path}': unsupported config type {tp!r}")  # a programming error, said plainly


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` strings to a nested dict; values are parsed as YAML (``1e-3``, ``[1, 2]``, ``true``)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {_show(item)} must look like key.sub=value")
        dotted, raw = item.split("=", 1)
        keys = dotted.strip().split(".")
        if not all(keys):
            raise ConfigError(f"override {_show(item)} has an empty key")
        node = data
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {_show(item)}: {_show(key)} is not a section")
        try:
            node[keys[-1]] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            node[keys[-1]] = raw
    return data


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        line = getattr(getattr(err, "problem_mark", None), "line", None)
        where = f" (line {line + 1})" if line is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys")
    return data


def resolve_config_path(name: str | Path | None) -> Path | None:
    """A config path as given, or a bundled config by name (``mnist`` -> configs/mnist.yaml)."""
    if name is None:
        return None
    path = Path(name)
    if path.exists():
        return path
    for candidate in (CONFIG_DIR / name, CONFIG_DIR / f"{name}.yaml"):
        if candidate.is_file():
            return candidate
    return path  # load_config reports it as missing, naming the path


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Read ``path`` (or start from the defaults), apply ``overrides``, build and check ``cls``."""
    data = read_yaml(path) if path is not None else {}
    data = apply_overrides(data, list(overrides or []))
    return from_dict(cls, data)


def to_dict(config: Any) -> dict[str, Any]:
    """Plain dict of a config dataclass (tuples become lists so YAML and JSON stay simple)."""

    def plain(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(config))


def dump_yaml(config: Any) -> str:
    return yaml.safe_dump(to_dict(config), sort_keys=False)


def save_config(config: Any, run_dir: str | Path, name: str = "config.yaml") -> Path:
    """Write the resolved config into the run folder, so the run can be repeated from the folder alone."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / name
    path.write_text(dump_yaml(config))
    return path
