"""Choosing a TF-Inception backend by name: 'onnx' (default, fast on CPU) or 'torchscript' (the reference)."""

from __future__ import annotations

from dpldm.errors import DpldmError
from dpldm.evaluation.features import FeatureExtractor

BACKENDS = ("onnx", "torchscript")


def inception_backend(name: str, *, batch_size: int = 50, progress: bool = False) -> FeatureExtractor:
    if name == "onnx":
        from dpldm.evaluation.onnx_inception import OnnxInception

        return OnnxInception(batch_size=batch_size, progress=progress)
    if name == "torchscript":
        from dpldm.evaluation.inception import TorchScriptInception

        return TorchScriptInception(batch_size=batch_size, progress=progress)
    raise DpldmError(f"unknown feature backend {name!r}; choose one of {', '.join(BACKENDS)}")
