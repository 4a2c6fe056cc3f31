"""--device and train.precision on the training stages, run on this CPU: CUDA refused in one line where there is
none, cpu and auto fine-tune to the end, a run resumes under another device string but not another precision,
bf16 autocast runs every stage to the end, and the per-example gradients under CPU bf16 autocast stay within a
stated tolerance of the float32 ones (the DP mechanics after them, clipping and noise, stay float32)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from dpldm.bundle import build_denoiser
from dpldm.cli.main import main
from dpldm.diffusion.loss import eps_loss
from dpldm.diffusion.schedule import DiffusionConfig, train_scheduler
from dpldm.dp.gradient import PrivateGradient
from dpldm.finetune.trainable import TrainableSpec, select_trainable
from dpldm.models import UNetConfig
from dpldm.training.device import autocast, bf16_supported
from tiny_configs import tiny

CPU = torch.device("cpu")
needs_cpu_bf16 = pytest.mark.skipif(not bf16_supported(CPU), reason="torch cannot autocast to bfloat16 on this CPU")
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")

# Measured on the tiny denoiser below (16 examples, attention from block 1 trained, torch 2.13 CPU): the largest
# relative error of an example's gradient norm was 1.0%, of its whole gradient vector 3.4%.
NORM_TOLERANCE = 0.05  # |norm_bf16 - norm_fp32| / norm_fp32, per example
VECTOR_TOLERANCE = 0.10  # ||g_bf16 - g_fp32|| / ||g_fp32||, per example


def finetune_args(model: Path, out: Path, *extra: str, device: tuple[str, ...] = ()) -> list[str]:
    return ["finetune", "--config", tiny("tiny_finetune"), "--out", str(out), *device, "--set", f"public_model={model}",
            *extra]


@needs_cpu_bf16
def test_per_example_gradients_under_bf16_autocast_are_close_to_float32():
    torch.manual_seed(0)
    den = build_denoiser(UNetConfig(sample_size=4, latent_channels=3, block_out_channels=(16, 32), layers_per_block=1,
                                    attention_head_dim=8, cross_attention_dim=16, norm_num_groups=8), 5).train()
    select_trainable(den, TrainableSpec(from_block=1))
    schedule = train_scheduler(DiffusionConfig())
    b = 16
    z0, y = torch.randn(b, 3, 4, 4), torch.randint(0, 5, (b,))
    t, noise = torch.randint(0, 1000, (b,)), torch.randn(b, 3, 4, 4)
    precision = ["fp32"]

    def loss_fn(module, batch, generator):  # as the fine-tuning stage's: autocast around the forward pass only
        with autocast(CPU, precision[0]):
            loss = eps_loss(module, batch["z"], batch["y"], t=t, noise=noise, schedule=schedule)
        return loss.float()

    pg = PrivateGradient(den, loss_fn, max_grad_norm=1e9, noise_multiplier=0.0, expected_batch_size=b,
                         max_physical_batch=b)
    exact = pg.per_example({"z": z0, "y": y}, torch.Generator())
    precision[0] = "bf16"
    low = pg.per_example({"z": z0, "y": y}, torch.Generator())
    pg.close()
    assert all(g.dtype == torch.float32 for g in low)  # clipping, sum and noise see float32
    flat_exact = torch.cat([g.flatten(1) for g in exact], 1)
    flat_low = torch.cat([g.flatten(1) for g in low], 1)
    assert not torch.equal(flat_exact, flat_low)  # the forward pass did run in bf16
    norms = flat_exact.norm(dim=1)
    assert ((flat_low.norm(dim=1) - norms).abs() / norms).max() < NORM_TOLERANCE
    assert ((flat_low - flat_exact).norm(dim=1) / norms).max() < VECTOR_TOLERANCE


@no_cuda
def test_device_cuda_without_cuda_is_one_line_and_writes_nothing(tiny_public_model, tmp_path, capsys):
    runs = {"finetune": finetune_args(tiny_public_model, tmp_path / "ft", device=("--device", "cuda")),
            "pretrain": ["pretrain", "--config", tiny("tiny_ldm"), "--out", str(tmp_path / "ldm"),
                         "--device", "cuda:0"],
            "train-autoencoder": ["train-autoencoder", "--config", tiny("tiny_autoencoder"),
                                  "--out", str(tmp_path / "ae"), "--device", "cuda"]}
    for command, argv in runs.items():
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"dpldm {command}: error: --device cuda") and \
            "no CUDA device is available here" in err and "Traceback" not in err, err
    assert not any(tmp_path.iterdir())


def test_cpu_and_auto_fine_tune_and_a_run_resumes_under_another_device_string(tiny_public_model, tmp_path, capsys):
    out = tmp_path / "ft"
    assert main(finetune_args(tiny_public_model, out, "dp.seed=3", device=("--device", "cpu"))) == 0
    assert json.loads((out / "privacy.json").read_text())["steps"] == 4
    assert "device: cpu" in (out / "config.yaml").read_text()
    capsys.readouterr()
    assert main(finetune_args(tiny_public_model, out, "dp.seed=3", device=("--device", "auto"))) == 0
    assert "resuming from step 4" in capsys.readouterr().err
    # Precision changes the result: a run keeps the one it started with.
    assert main(finetune_args(tiny_public_model, out, "dp.seed=3", "train.precision=bf16")) == 2
    assert "train.precision \"fp32\" -> \"bf16\"" in capsys.readouterr().err
    # auto on a fresh run: on this machine the same device as cpu, so the same seeded result.
    fresh = tmp_path / "auto"
    assert main(finetune_args(tiny_public_model, fresh, "dp.seed=3", device=("--device", "auto"))) == 0
    a, b = (load_file(str(run / "model" / "denoiser.safetensors")) for run in (out, fresh))
    if not torch.cuda.is_available():
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_run_made_before_train_precision_existed_resumes(tiny_public_model, tmp_path, capsys):
    import yaml

    out = tmp_path / "ft"
    assert main(finetune_args(tiny_public_model, out, "dp.seed=3")) == 0
    saved = yaml.safe_load((out / "config.yaml").read_text())
    del saved["train"]["precision"], saved["train"]["device"]
    (out / "config.yaml").write_text(yaml.safe_dump(saved, sort_keys=False))
    capsys.readouterr()
    assert main(finetune_args(tiny_public_model, out, "dp.seed=3")) == 0
    assert "resuming from step 4" in capsys.readouterr().err
    assert main(finetune_args(tiny_public_model, out, "dp.seed=3", "train.precision=bf16")) == 2


@needs_cpu_bf16
def test_bf16_runs_every_training_stage_to_the_end(tiny_public_model, tmp_path):
    ft = tmp_path / "ft"
    assert main(finetune_args(tiny_public_model, ft, "train.precision=bf16")) == 0
    privacy = json.loads((ft / "privacy.json").read_text())
    assert privacy["steps"] == 4 and privacy["epsilon"] > 0
    weights = load_file(str(ft / "model" / "denoiser.safetensors"))
    assert all(w.dtype == torch.float32 and bool(torch.isfinite(w).all()) for w in weights.values())

    ae = tmp_path / "ae"
    assert main(["train-autoencoder", "--config", tiny("tiny_autoencoder"), "--out", str(ae), "--device", "cpu",
                 "--set", "train.precision=bf16", "train.steps=2"]) == 0
    ldm = tmp_path / "ldm"
    assert main(["pretrain", "--config", tiny("tiny_ldm"), "--out", str(ldm), "--device", "cpu", "--set",
                 f"autoencoder={ae / 'autoencoder'}", "train.precision=bf16", "train.steps=2"]) == 0
    for folder in (ae, ldm):
        log = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
        assert log[-1]["step"] == 2 and all(torch.isfinite(torch.tensor(r["loss"])) for r in log)
