"""Typed configs: unknown keys, wrong types, dotted overrides, and the CLI's --dry-run."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from dpldm.config import ConfigError, apply_overrides, from_dict, load_config, save_config
from dpldm.training.pretrain import PretrainConfig
from tiny_configs import tiny


@dataclass
class Inner:
    lr: float = 1e-3  # learning rate
    steps: int = 10  # steps
    levels: tuple[int, ...] = (1, 2)  # widths


@dataclass
class Outer:
    name: str = "x"  # a name
    inner: Inner = field(default_factory=Inner)
    limit: int | None = None  # optional


def test_unknown_key_names_key_and_allowed():
    with pytest.raises(ConfigError) as err:
        from_dict(Outer, {"inner": {"lrr": 1}})
    assert "inner.lrr" in str(err.value) and "lr, steps" in str(err.value)


@pytest.mark.parametrize("data, where", [({"inner": {"steps": 1.5}}, "inner.steps"),
                                         ({"inner": {"lr": "fast"}}, "inner.lr"),
                                         ({"name": 3}, "name"),
                                         ({"inner": {"steps": True}}, "inner.steps"),
                                         ({"inner": {"levels": [1, "a"]}}, "inner.levels[1]")])
def test_wrong_type_is_an_error(data, where):
    with pytest.raises(ConfigError, match=where.replace("[", r"\[")):
        from_dict(Outer, data)


def test_values_are_converted():
    cfg = from_dict(Outer, {"inner": {"lr": "3e-4", "steps": 5, "levels": [4, 8]}, "limit": None})
    assert cfg.inner.lr == 3e-4 and cfg.inner.steps == 5 and cfg.inner.levels == (4, 8) and cfg.limit is None
    assert from_dict(Outer, {"inner": {"lr": 1}}).inner.lr == 1.0


def test_dotted_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("inner:\n  lr: 0.1\n")
    cfg = load_config(Outer, path, ["inner.steps=7", "inner.lr=3e-4", "name=abc", "inner.levels=[3, 4]"])
    assert (cfg.inner.steps, cfg.inner.lr, cfg.name, cfg.inner.levels) == (7, 3e-4, "abc", (3, 4))
    with pytest.raises(ConfigError, match="key.sub=value"):
        apply_overrides({}, ["novalue"])
    with pytest.raises(ConfigError, match="inner.nope"):
        load_config(Outer, path, ["inner.nope=1"])


def test_missing_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(Outer, tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("inner: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(Outer, bad)


def test_save_config_round_trips(tmp_path):
    cfg = load_config(PretrainConfig, None, ["train.steps=9", "unet.block_out_channels=[32, 96]"])
    path = save_config(cfg, tmp_path)
    assert load_config(PretrainConfig, path) == cfg


def test_cli_dry_run_and_unknown_key(capsys):
    from dpldm.cli.main import main

    assert main(["pretrain", "--config", tiny("tiny_ldm"), "--dry-run", "--set", "train.steps=3"]) == 0
    out = capsys.readouterr().out
    assert "steps: 3" in out and "glyphs" in out
    assert main(["pretrain", "--config", tiny("tiny_ldm"), "--dry-run", "--set", "train.stepz=3"]) == 2
    err = capsys.readouterr().err
    assert "train.stepz" in err and "allowed keys" in err and len(err.strip().splitlines()) == 1
