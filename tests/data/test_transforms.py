"""Transforms: channels, resize, centre-crop, pad, [-1, 1] scaling and prepare's fit modes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dpldm.data import DataConfig, from_unit_range, load_images, prepare, to_model_input
from dpldm.data.transforms import center_crop, pad, resize, to_channels, to_shape, to_unit_range

from .files import random_images


def test_to_channels_both_ways():
    gray = random_images(2, 4, 4)
    rgb = to_channels(gray, 3)
    assert rgb.shape == (2, 4, 4, 3) and np.array_equal(rgb[..., 1], gray)
    pure = np.zeros((1, 1, 1, 3), np.uint8)
    pure[..., 0] = 255  # red -> ITU-R 601 luma 0.299 * 255
    assert to_channels(pure, 1).item() == 76
    assert to_channels(gray, 1).shape == (2, 4, 4, 1)
    with pytest.raises(ValueError):
        to_channels(gray, 2)


def test_resize_crop_pad_shapes_and_content():
    x = random_images(3, 10, 6)[..., None]
    assert resize(x, 5).shape == (3, 5, 5, 1) and resize(x, 20).shape == (3, 20, 20, 1)
    flat = np.full((1, 8, 8, 1), 77, np.uint8)
    assert np.all(resize(flat, 4) == 77)
    crop = center_crop(x, 6)
    assert crop.shape == (3, 6, 6, 1) and np.array_equal(crop, x[:, 2:8])
    padded = pad(x, 10, value=0)
    assert padded.shape == (3, 10, 10, 1) and np.array_equal(padded[:, :, 2:8], x)
    assert np.all(padded[:, :, :2] == 0)
    with pytest.raises(ValueError):
        center_crop(x, 7)
    with pytest.raises(ValueError):
        pad(x, 9)


def test_unit_range_round_trip():
    x = np.array([[[[0], [255]], [[128], [1]]]], np.uint8)
    t = to_unit_range(x)
    assert t.shape == (1, 1, 2, 2) and t.dtype == torch.float32
    assert t.min().item() == -1.0 and t.max().item() == 1.0
    back = from_unit_range(t)
    assert back.shape == (1, 2, 2) and np.array_equal(back, x[..., 0])
    assert from_unit_range(torch.full((1, 3, 2, 2), 5.0)).max() == 255  # clamped


@pytest.mark.parametrize("fit", ["resize", "crop", "pad"])
def test_prepare_fits_non_square_rgb_to_gray_squares(fit):
    x = random_images(4, 20, 12, channels=3)
    out = prepare(x, size=16, channels=1, fit=fit)
    assert out.shape == (4, 1, 16, 16) and -1.0 <= out.min() and out.max() <= 1.0
    with pytest.raises(ValueError, match="fit must be"):
        prepare(x, size=16, channels=1, fit="stretch")


def test_data_config_round_trip_through_yaml_dict():
    from dpldm.config import ConfigError, from_dict

    cfg = from_dict(DataConfig, {"name": "digits", "split": "all", "image_size": 16, "channels": 3, "fit": "pad",
                                 "limit": 10, "seed": 2})
    data = load_images(cfg)
    assert len(data) == 10 and to_model_input(cfg, data).shape == (10, 3, 16, 16)
    with pytest.raises(ConfigError, match="unknown dataset 'mnits'"):
        from_dict(DataConfig, {"name": "mnits"})
    with pytest.raises(ConfigError, match="no split 'val'"):
        from_dict(DataConfig, {"name": "glyphs", "split": "val"})
    with pytest.raises(ConfigError, match="'fit' must be one of"):
        from_dict(DataConfig, {"fit": "stretch"})
    glyph_cfg = from_dict(DataConfig, {"name": "glyphs", "options": {"count": 30, "include_digits": True}})
    assert load_images(glyph_cfg).num_classes == 36


@pytest.mark.parametrize("size, channels", [(16, 1), (40, 1), (16, 3)])
def test_to_shape_gives_the_pixels_that_training_sees(size, channels):
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    out = to_shape(rgb, size, channels)
    assert out.shape == ((5, size, size) if channels == 1 else (5, size, size, 3)) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, from_unit_range(prepare(rgb, size=size, channels=channels)))
