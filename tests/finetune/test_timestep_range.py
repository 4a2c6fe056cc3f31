"""train.timestep_range: the fine-tuning draws t only from the chosen part of the chain. The default is the old
stream bit for bit, every t of a run lies in the range (counted at the loss the DP engine differentiates), bad
ranges are one-line errors, and a run made before the key existed resumes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from dpldm.cli.main import main
from dpldm.diffusion.loss import draw_t_and_noise
from dpldm.finetune.stage import FinetuneTrainConfig
from tiny_configs import tiny


def finetune_args(model: Path, out: Path, *extra: str) -> list[str]:
    return ["finetune", "--config", tiny("tiny_finetune"), "--out", str(out), "--set", f"public_model={model}", *extra]


def test_the_whole_range_is_the_old_stream_bit_for_bit():
    z0 = torch.zeros(64, 3, 4, 4)
    old_t, old_noise = draw_t_and_noise(z0, 1000, torch.Generator().manual_seed(5))
    t, noise = draw_t_and_noise(z0, 1000, torch.Generator().manual_seed(5), t_range=(0, 1000))
    assert torch.equal(t, old_t) and torch.equal(noise, old_noise)
    assert FinetuneTrainConfig().t_range(1000) is None  # the default passes no range at all


def test_a_part_of_the_chain_is_all_that_is_drawn_and_all_of_it_is():
    t, _ = draw_t_and_noise(torch.zeros(20_000, 1, 1, 1), 1000, torch.Generator().manual_seed(0), t_range=(300, 1000))
    assert int(t.min()) == 300 and int(t.max()) == 999
    counts = torch.bincount(t - 300, minlength=700).float()
    assert counts.min() > 0 and counts.std() / counts.mean() < 0.25  # uniform over the range, not a corner of it


@pytest.mark.parametrize("fractions, expected", [((0.3, 1.0), (300, 1000)), ((0.0, 0.5), (0, 500)),
                                                 ((0.9995, 1.0), (999, 1000)), ((0.2, 0.2001), (200, 201))])
def test_fractions_become_integer_ranges_inside_the_chain(fractions, expected):
    assert FinetuneTrainConfig(timestep_range=fractions).t_range(1000) == expected


def test_the_range_never_leaves_the_chain():
    with pytest.raises(ValueError, match="t_range"):
        draw_t_and_noise(torch.zeros(2, 1, 1, 1), 1000, torch.Generator(), t_range=(1000, 1001))


@pytest.mark.parametrize("bad", ["[0.5,0.2]", "[-0.1,1.0]", "[0.0,1.5]", "[0.3,0.3]"])
def test_bad_ranges_are_one_line_errors(tiny_public_model, tmp_path, capsys, bad):
    assert main(finetune_args(tiny_public_model, tmp_path / "ft", f"train.timestep_range={bad}", "--dry-run")) == 2
    err = capsys.readouterr().err
    assert "timestep_range" in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "ft").exists()


def test_every_trained_t_lies_in_the_range(tiny_public_model, tmp_path, monkeypatch):
    import dpldm.training.denoising as denoising

    seen, original = [], denoising.eps_loss

    def recording(module, z0, cond, *, t, noise, schedule):
        seen.append(t.clone())
        return original(module, z0, cond, t=t, noise=noise, schedule=schedule)

    monkeypatch.setattr(denoising, "eps_loss", recording)
    assert main(finetune_args(tiny_public_model, tmp_path / "ft", "train.timestep_range=[0.6,1.0]")) == 0
    drawn = torch.cat(seen)
    assert len(drawn) > 50 and int(drawn.min()) >= 600 and int(drawn.max()) < 1000
    saved = yaml.safe_load((tmp_path / "ft" / "config.yaml").read_text())
    assert saved["train"]["timestep_range"] == [0.6, 1.0]


def test_a_run_made_before_the_key_existed_resumes(tiny_public_model, tmp_path, capsys):
    out = tmp_path / "ft"
    assert main(finetune_args(tiny_public_model, out)) == 0
    saved = yaml.safe_load((out / "config.yaml").read_text())
    del saved["train"]["timestep_range"]
    (out / "config.yaml").write_text(yaml.safe_dump(saved))
    capsys.readouterr()
    assert main(finetune_args(tiny_public_model, out)) == 0
    assert "resuming from step 4" in capsys.readouterr().err
    # ... but not with another range: that would change what the rest of the run computes.
    assert main(finetune_args(tiny_public_model, out, "train.timestep_range=[0.5,1.0]")) == 2
