"""tools/gpu_sd256.py: on a CPU it says what it would run; its whole path runs on a tiny model as a smoke test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "tools" / "gpu_sd256.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})


def test_without_a_gpu_it_says_what_it_would_run():
    done = run("--steps", "3")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("no CUDA device here: would fine-tune a random sd15 model")
    assert "256x256" in done.stdout and "3 DP steps" in done.stdout


@pytest.mark.slow
def test_the_timing_path_runs_on_a_tiny_model_on_the_cpu(tmp_path):
    done = run("--preset", "tiny", "--device", "cpu", "--precision", "fp32", "--image-size", "16", "--images", "16",
               "--batch", "4", "--physical-batch", "4", "--steps", "2", "--from-block", "5", "--sample-steps", "2",
               "--json", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    row = json.loads(done.stdout.strip().splitlines()[-1])
    assert row["s_per_dp_step"] > 0 and 0 < row["trainable_params"] < row["total_params"]
    assert row["peak_gpu_gib_train"] is None and (tmp_path / "samples" / "samples.png").is_file()
