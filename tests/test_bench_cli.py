"""The benchmark commands run and print the numbers they promise (timings themselves are not asserted)."""

from __future__ import annotations

import json

from dpldm.cli.main import main


def test_bench_dp_step_prints_ratios(capsys):
    assert main(["bench", "dp-step", "--batch-size", "4", "--repeats", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("nonprivate_s", "dp_s", "dp_over_nonprivate", "full_dp_s", "attention_dp_over_full_dp"):
        assert result[key] > 0
    assert result["latent_cache_speedup"] > 1
    assert result["trainable_params"] < result["full_trainable_params"]


def test_bench_lists_every_benchmark(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    out = capsys.readouterr().out
    for name in ("sample", "dp-step", "fid", "quality"):
        assert name in out
