"""Property tests of the config loader: whatever a user types after --set, or puts in a YAML file, the loader
either returns a typed config or raises ConfigError / DpldmError (one line for the CLI), never anything else."""

from __future__ import annotations

import dataclasses
import typing

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dpldm.config import ConfigError, from_dict, load_config, read_yaml
from dpldm.errors import DpldmError
from dpldm.finetune.stage import FinetuneConfig
from dpldm.synthesis import SampleConfig
from dpldm.training.autoencoder import AutoencoderStageConfig
from dpldm.training.pretrain import PretrainConfig

STAGES = (FinetuneConfig, PretrainConfig, AutoencoderStageConfig, SampleConfig)
PROPERTY = settings(max_examples=200, deadline=None, database=None)


def leaf_keys(cls: type, prefix: str = "") -> list[str]:
    """Every dotted key a config class accepts, down to its leaves."""
    keys = []
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        key = f"{prefix}{field.name}"
        keys.append(key)
        if dataclasses.is_dataclass(hints[field.name]):
            keys.extend(leaf_keys(hints[field.name], f"{key}."))
    return keys


# Values a user might type: YAML scalars and small collections, including NaN, infinities, huge integers.
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=10**300, max_value=10**320),
                    st.floats(), st.text(max_size=20))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=8)


@st.composite
def overrides(draw, cls: type) -> list[str]:
    known = leaf_keys(cls)
    items = []
    for _ in range(draw(st.integers(1, 4))):
        key = draw(st.one_of(st.sampled_from(known), st.text(max_size=12)))
        raw = draw(st.one_of(values.map(lambda v: yaml.safe_dump(v, default_flow_style=True).strip()
                                        .removesuffix("...").strip()),
                             st.text(max_size=20), st.sampled_from([".inf", "-.inf", ".nan", "nan", "1e400", "-0",
                                                                    "1e-400", "[", "{a: 1", "!!python/none ''"])))
        items.append(f"{key}={raw}" if draw(st.booleans()) or not key else key + raw)
    return items


@pytest.mark.parametrize("cls", STAGES, ids=lambda c: c.__name__)
def test_random_overrides_load_or_raise_a_config_error(cls):
    @PROPERTY
    @given(items=overrides(cls))
    def check(items):
        try:
            config = load_config(cls, None, items)
        except DpldmError as err:  # ConfigError is one
            assert "\n" not in str(err)
        else:
            assert isinstance(config, cls)

    check()


@PROPERTY
@given(data=st.dictionaries(st.one_of(st.text(max_size=10), st.integers(), st.sampled_from(leaf_keys(FinetuneConfig))),
                            values, max_size=6))
def test_random_mappings_load_or_raise_a_config_error(data):
    try:
        from_dict(FinetuneConfig, data)
    except ConfigError as err:
        assert "\n" not in str(err)


@PROPERTY
@given(text=st.text(max_size=200))
def test_random_yaml_files_read_or_raise_a_config_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("yaml") / "config.yaml"
    path.write_text(text)
    try:
        data = read_yaml(path)
    except ConfigError as err:
        assert "\n" not in str(err)
        return
    assert isinstance(data, dict)
    try:
        from_dict(FinetuneConfig, data)
    except ConfigError as err:
        assert "\n" not in str(err)
