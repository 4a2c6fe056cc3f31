"""tools/gpu_recipes.py: on a CPU it says what it would run; its timing path runs on the CPU as a smoke test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "tools" / "gpu_recipes.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600)


def test_without_a_gpu_it_says_what_it_would_run():
    done = run("--recipes", "mnist", "fashion_mnist")
    assert done.returncode == 0, done.stderr
    assert "no CUDA device here" in done.stdout
    assert "--config mnist_finetune --set dp.expected_batch_size=2000 dp.epochs=200 train.device=cuda" in done.stdout
    assert "fashion_mnist_finetune" in done.stdout and "cifar10" not in done.stdout


@pytest.mark.slow
def test_a_cpu_slice_times_the_recipe_at_its_own_sigma():
    done = run("--recipes", "mnist", "--device", "cpu", "--steps", "3", "--json",
               "--set", "dp.expected_batch_size=32", "dp.max_physical_batch=32", "data.limit=2000")
    assert done.returncode == 0, done.stderr[-2000:]
    row = json.loads(done.stdout.strip().splitlines()[-1])
    assert row["recipe"] == "mnist" and row["device"] == "cpu" and row["slice_steps"] == 3
    assert row["steps"] > 1000 and row["s_per_step"] > 0 and row["projected_h"] > 0
    # The slice runs at the whole recipe's sigma, so it spends a small part of the recipe's epsilon.
    assert 0 < row["epsilon_of_slice"] < 2
