"""The fast CPU backend: the TorchScript TF-Inception exported once to ONNX and run by onnxruntime.

Measured on 2 CPU cores: 2.5x-3.6x the TorchScript speed, features equal to about 1e-5 (EVALUATION.md).
The export is lazy: the first use writes ``<cache>/tf-inception-pool3.onnx`` (87 MB, a few seconds), then checks it
against the TorchScript reference on two fixed images and refuses a file whose features differ by more than
``CHECK_ATOL``. Later uses load the file directly.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from dpldm.errors import DpldmError
from dpldm.evaluation.features import batched_features, cache_dir
from dpldm.evaluation.inception import FEATURE_DIM, FEATURE_NAME, TorchScriptInception, inception_input, weights_path

ONNX_FILE = f"{FEATURE_NAME}.onnx"
OPSET = 17
CHECK_ATOL = 1e-3  # max abs feature difference tolerated at export (what it measures: BENCHMARKS.md)


def check_images() -> np.ndarray:
    """Two fixed uint8 (2, 28, 28) images: a smooth ramp and seeded noise."""
    ramp = np.tile(np.linspace(0, 255, 28), (28, 1)).astype(np.uint8)
    noise = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    return np.stack([ramp, noise])


def export_onnx(path: Path) -> float:
    """Export the TorchScript network to ``path`` with a dynamic batch axis; returns the check's max abs diff."""
    reference = TorchScriptInception(device="cpu")
    example = inception_input(check_images())  # (2, 3, 299, 299)
    tmp = path.with_suffix(".tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter is deprecated in favour of dynamo; it works here
        torch.onnx.export(reference.model, (example,), str(tmp), input_names=["images"], output_names=["features"],
                          dynamic_axes={"images": {0: "batch"}, "features": {0: "batch"}}, opset_version=OPSET,
                          dynamo=False)
    diff = float(np.abs(OnnxInception(tmp).features(check_images()) - reference.features(check_images())).max())
    if not diff <= CHECK_ATOL:
        tmp.unlink()
        raise DpldmError(f"ONNX export of TF-Inception differs from TorchScript by {diff:.2e} (> {CHECK_ATOL}); "
                         f"use --backend torchscript")
    tmp.replace(path)
    return diff


def onnx_path() -> Path:
    """The cached ONNX file, exported on first use (needs the TorchScript weights once)."""
    path = cache_dir() / ONNX_FILE
    if not path.is_file():
        weights_path()  # fail early with the install hint
        export_onnx(path)
    return path


class OnnxInception:
    """TF-Inception pool3 features through onnxruntime on CPU; same ``name`` as the TorchScript backend."""

    name = FEATURE_NAME
    dim = FEATURE_DIM

    def __init__(self, path: Path | None = None, *, batch_size: int = 50, progress: bool = False) -> None:
        import onnxruntime as ort

        import torch

        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = torch.get_num_threads()  # follow torch (OMP_NUM_THREADS, --threads)
        self.session = ort.InferenceSession(str(path or onnx_path()), options, providers=["CPUExecutionProvider"])
        self.batch_size = batch_size
        self.progress = progress

    def _batch(self, images: np.ndarray) -> np.ndarray:
        x = inception_input(images).numpy()  # (B, 3, 299, 299) float32
        return self.session.run(["features"], {"images": x})[0]  # (B, 2048)

    def features(self, images: np.ndarray) -> np.ndarray:
        return batched_features(self._batch, images, self.batch_size, self.progress)
