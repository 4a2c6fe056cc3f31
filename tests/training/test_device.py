"""train.device and train.precision (dpldm.training.device): resolving a device string, refusing CUDA where there
is none in one line, autocast only where it is asked for, and the config checks."""

from __future__ import annotations

import pytest
import torch

from dpldm.config import ConfigError, load_config
from dpldm.errors import DpldmError
from dpldm.finetune.stage import FinetuneConfig
from dpldm.training.device import autocast, bf16_supported, check_precision_on, resolve_device


def test_auto_and_cpu_resolve_here_and_auto_follows_cuda(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto") == torch.device(expected)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(DpldmError, match="only 2 CUDA device"):
        resolve_device("cuda:2")


def test_cuda_without_cuda_is_one_line(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for name in ("cuda", "cuda:0"):
        with pytest.raises(DpldmError) as err:
            resolve_device(name)
        message = str(err.value)
        assert "\n" not in message and "no CUDA device is available here" in message and "--device cpu" in message
        assert message.startswith(f"--device {name}:")
    with pytest.raises(DpldmError, match="device must be auto, cpu, cuda or cuda:N"):
        resolve_device("tpu")


def test_config_refuses_unknown_device_and_precision():
    for override, key in (("train.device=gpu", "device"), ("train.precision=fp16", "precision")):
        with pytest.raises(ConfigError, match=key):
            load_config(FinetuneConfig, None, [override])
    cfg = load_config(FinetuneConfig, None, ["train.device=cuda:3", "train.precision=bf16"])
    assert (cfg.train.device, cfg.train.precision) == ("cuda:3", "bf16")


def test_autocast_wraps_only_for_bf16():
    cpu = torch.device("cpu")
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with autocast(cpu, "fp32"):
        assert (a @ b).dtype == torch.float32
    if not bf16_supported(cpu):
        pytest.skip("torch cannot autocast to bfloat16 on this CPU")
    with autocast(cpu, "bf16"):
        assert (a @ b).dtype == torch.bfloat16
    assert (a @ b).dtype == torch.float32  # nothing leaks out of the block
    check_precision_on("bf16", cpu)


def test_bf16_where_torch_cannot_is_one_line(monkeypatch):
    monkeypatch.setattr(torch.amp, "is_autocast_available", lambda device_type: False)
    with pytest.raises(DpldmError, match="train.precision=bf16: torch cannot autocast"):
        check_precision_on("bf16", torch.device("cpu"))
    check_precision_on("fp32", torch.device("cpu"))
