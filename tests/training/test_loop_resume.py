"""Every training stage stopped mid-run and resumed through the one training loop (dpldm.training.loop) ends where
an uninterrupted run ends, bit for bit: the exported weights, the whole final checkpoint (optimizer, LR schedule,
EMA, the step's generator; for DP fine-tuning the engine's sampler, seeded noise and accountant), and the log.

The run is stopped by Ctrl-C (KeyboardInterrupt) right after the update of step 3, one step past the checkpoint of
step 2, so the resumed run must redo that step from the restored state rather than from where the process was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from dpldm.cli.main import main
from dpldm.training.resume_state import load_checkpoint
from dpldm.training.loop import TrainingLoop
from tiny_configs import tiny

STOP_AFTER = 3  # the step whose update is the last before Ctrl-C; the checkpoint before it is step 2


def stage_runs(tiny_autoencoder: Path, tiny_public_model: Path) -> dict[str, tuple[list[str], str, str]]:
    """stage -> (argv after --out, exported model folder, folder of the checkpoint and log), each run short, with
    a checkpoint every 2 steps; fine-tuning seeded (dp.seed) so that two runs can be compared, with an EMA and
    warm-up so that the loop's own parts are in its checkpoint too."""
    return {
        "train-autoencoder": (["--config", tiny("tiny_autoencoder"), "--set", "train.steps=5", "train.warmup_steps=2",
                               "train.checkpoint_every=2"], "autoencoder", "."),
        "pretrain": (["--config", tiny("tiny_ldm"), "--set", f"autoencoder={tiny_autoencoder / 'autoencoder'}",
                      "train.steps=5", "train.checkpoint_every=2"], "model", "."),
        "finetune": (["--config", tiny("tiny_finetune"), "--set", f"public_model={tiny_public_model}", "dp.seed=3",
                      "train.ema_decay=0.5", "train.warmup_steps=2", "train.checkpoint_every=2"], "model", "private"),
    }


def assert_same_state(a, b, where: str = "state") -> None:
    """Two checkpoint states are equal: the same keys, bit-identical tensors (and dtypes), equal plain values."""
    assert type(a) is type(b), where
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for key in a:
            assert_same_state(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_state(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def log_without_times(folder: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "wall_s"}
            for line in (folder / "log.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("stage", ["train-autoencoder", "pretrain", "finetune"])
def test_a_stage_stopped_mid_run_resumes_to_the_uninterrupted_result(stage, tiny_autoencoder, tiny_public_model,
                                                                     tmp_path, capsys, monkeypatch):
    args, model_dir, state_dir = stage_runs(tiny_autoencoder, tiny_public_model)[stage]
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert main([stage, "--out", str(straight), *args]) == 0

    update = TrainingLoop.update

    def update_then_interrupt(loop, step, done):
        update(loop, step, done)
        if done + 1 == STOP_AFTER:
            raise KeyboardInterrupt

    monkeypatch.setattr(TrainingLoop, "update", update_then_interrupt)
    assert main([stage, "--out", str(stopped), *args]) == 130
    monkeypatch.setattr(TrainingLoop, "update", update)
    saved = json.loads((stopped / state_dir / "checkpoint.json").read_text())
    assert saved["step"] == STOP_AFTER - 1
    assert not (stopped / model_dir).exists() and not (stopped / "privacy.json").exists()

    capsys.readouterr()
    assert main([stage, "--out", str(stopped), *args]) == 0
    resumed_from = f"resuming from step {STOP_AFTER - 1}"
    if stage == "finetune":  # the accountant resumes at what was spent, never at zero
        resumed_from += f", epsilon {saved['epsilon']:.4f} already spent"
    assert resumed_from in capsys.readouterr().err

    # The exported weights, bit for bit.
    files = sorted(p.name for p in (straight / model_dir).glob("*.safetensors"))
    assert files and files == sorted(p.name for p in (stopped / model_dir).glob("*.safetensors"))
    for name in files:
        a, b = (load_file(str(run / model_dir / name)) for run in (straight, stopped))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    # The whole final checkpoint (the resumed run's state at its last step), and its facts.
    (state_a, info_a), (state_b, info_b) = (load_checkpoint(run / state_dir / "checkpoint.safetensors")
                                            for run in (straight, stopped))
    assert_same_state(state_a, state_b)
    assert info_a == info_b
    # The log: the lines past the checkpoint were dropped on resume and written once, with the same values.
    assert log_without_times(straight / state_dir) == log_without_times(stopped / state_dir)

    if stage == "finetune":  # the same guarantee, after the same number of steps
        privacy = json.loads((straight / "privacy.json").read_text())
        assert privacy == json.loads((stopped / "privacy.json").read_text())
        assert privacy["steps"] == info_b["step"] == 4 and privacy["epsilon"] == info_b["epsilon"] > saved["epsilon"]
        spent = [json.loads((run / "private" / "summary.json").read_text())["epsilon_spent"]
                 for run in (straight, stopped)]
        assert spent[0] == spent[1] == privacy["epsilon"]
        assert "step" not in state_b  # the count is the engine's (its ledger's), as it always was
    else:
        assert "step" in state_b and state_b["step"] == info_b["step"] == 5


def test_the_autoencoder_killed_after_a_checkpoint_resumes_to_the_uninterrupted_result(
        tmp_path, run_killed_after_first_checkpoint):
    # kill -9 (no clean-up at all) right after the checkpoint of step 2, as the other stages' tests do.
    args = lambda out: ["train-autoencoder", "--config", tiny("tiny_autoencoder"), "--out", str(out)]  # noqa: E731
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert main(args(straight)) == 0
    crash = run_killed_after_first_checkpoint("dpldm.training.autoencoder", args(killed))
    assert crash.returncode == 9, crash.stderr
    assert json.loads((killed / "checkpoint.json").read_text())["step"] == 2
    assert main(args(killed)) == 0
    a, b = (load_file(str(run / "autoencoder" / "autoencoder.safetensors")) for run in (straight, killed))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert_same_state(load_checkpoint(straight / "checkpoint.safetensors")[0],
                      load_checkpoint(killed / "checkpoint.safetensors")[0])
