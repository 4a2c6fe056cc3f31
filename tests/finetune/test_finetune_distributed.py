"""`torchrun --nproc-per-node 2 -m dpldm finetune`: a 2-process gloo fine-tune on this machine, and its resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from dpldm.cli.main import main
from tiny_configs import tiny

pytestmark = pytest.mark.slow


def finetune_cmd(model: Path, out: Path, *extra: str) -> list[str]:
    return ["finetune", "--config", tiny("tiny_finetune"), "--out", str(out), "--set", f"public_model={model}", *extra]


def torchrun(argv: list[str], nproc: int = 2) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
                           "-m", "dpldm", *argv], env=env, capture_output=True, text=True, timeout=600)


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "model" / "denoiser.safetensors"))


def test_a_two_process_fine_tune_writes_one_run_and_resumes(tiny_public_model, tmp_path, capsys):
    two, one = tmp_path / "two", tmp_path / "one"
    done = torchrun(finetune_cmd(tiny_public_model, two, "dp.seed=3"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count('"epsilon_spent"') == 1  # rank 0 alone prints the summary
    assert main(finetune_cmd(tiny_public_model, one, "dp.seed=3")) == 0

    # The same plan and guarantee as one process; one log, written once per logged step.
    assert json.loads((two / "privacy.json").read_text()) == json.loads((one / "privacy.json").read_text())
    steps = [json.loads(line)["step"] for line in (two / "private" / "log.jsonl").read_text().splitlines()]
    assert steps == [2, 4]
    trained = weights(two)
    public = load_file(str(tiny_public_model / "denoiser.safetensors"))
    changed = [k for k in trained if k in public and not torch.equal(trained[k].float(), public[k].float())]
    assert changed and all("attentions" in k or "conditioner" in k for k in changed)

    # Resume: the checkpoint of step 4 (every rank's state in it) brings back the same model on both ranks.
    (two / "privacy.json").unlink()
    for f in (two / "model").iterdir():
        f.unlink()
    resumed = torchrun(finetune_cmd(tiny_public_model, two, "dp.seed=3"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stderr.count("resuming from step 4") == 1
    again = weights(two)
    assert all(torch.equal(trained[k], again[k]) for k in trained)

    # A seeded run keeps its number of processes (each rank's loss draws are part of its reproducible stream).
    (two / "privacy.json").unlink()
    capsys.readouterr()
    assert main(finetune_cmd(tiny_public_model, two, "dp.seed=3")) == 2
    assert "started with 2 process(es)" in capsys.readouterr().err
