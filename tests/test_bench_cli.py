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
    for step in ("nonprivate", "dp"):
        assert result[step]["gflop"] > 0 and 0 < result[step]["share_of_peak"] < 2
    assert result["dp"]["gflop"] > result["nonprivate"]["gflop"]  # the per-example products of the hooks


def test_flop_count_of_known_products():
    import torch

    from dpldm.bench.flops import count_flops, efficiency

    a, b = torch.randn(3, 5), torch.randn(5, 7)
    assert count_flops(lambda: a @ b) == 2 * 3 * 5 * 7
    x, w = torch.randn(2, 4, 6, 6), torch.randn(8, 4, 3, 3)
    # A 3x3 'valid' convolution: each of the 2*8*4*4 outputs takes 4*3*3 multiply-adds.
    assert count_flops(lambda: torch.nn.functional.conv2d(x, w)) == 2 * (2 * 8 * 4 * 4) * (4 * 3 * 3)
    assert efficiency(10 ** 9, 0.5, 4e9) == {"gflop": 1.0, "gflop_per_s": 2.0, "share_of_peak": 0.5}


def test_bench_lists_every_benchmark(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    out = capsys.readouterr().out
    for name in ("sample", "dp-step", "fid", "quality"):
        assert name in out
