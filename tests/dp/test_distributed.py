"""DP-SGD over 2 processes (gloo, torchrun) against the same step in one process: the same clipped sum, the noise
added once in total (not once per rank), the same seeded run; every rank ends with the same update."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import distributed_worker as worker  # noqa: E402

pytestmark = pytest.mark.slow


def torchrun(*args: str, nproc: int = 2, timeout: int = 300, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
                           *args], env=env, capture_output=True, text=True, timeout=timeout, **kwargs)


@pytest.fixture(scope="module")
def ranks_out(tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("ranks")
    done = torchrun(str(Path(worker.__file__)), str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    return [torch.load(out / f"rank{r}.pt") for r in range(2)]


def test_two_ranks_give_the_clipped_sum_of_one_process(ranks_out):
    one = worker.clipped_sum(None)
    for rank in ranks_out:
        assert len(rank["clipped_sum"]) == len(one)
        for a, b in zip(rank["clipped_sum"], one):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15)  # float64: only the summation order differs
    assert any(g.abs().sum() > 0 for g in one)


def test_the_noise_is_added_once_in_total_not_once_per_rank(ranks_out):
    a, b = (rank["noise"] for rank in ranks_out)
    assert torch.equal(a, b)  # every rank takes the same step
    # std per coordinate is sigma * C / B = 1; noise added on each of 2 ranks would give sqrt(2).
    std = a.std().item()
    n = a.numel()
    assert abs(std - 1.0) < 6 / (2 * n) ** 0.5, (std, n)  # 6 standard errors of a sample std
    one = worker.noise_draws(None)
    assert abs(one.std().item() - std) < 12 / (2 * n) ** 0.5


def test_a_seeded_two_rank_engine_matches_one_process(ranks_out):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = worker.engine_weights(None)
    for rank in ranks_out:
        torch.testing.assert_close(rank["engine"], one, rtol=1e-10, atol=1e-12)
