"""Checkpoint flattening round trip and the EMA rule."""

from __future__ import annotations

import torch
from diffusers.training_utils import EMAModel

from dpldm.training.resume_state import flatten, load_checkpoint, save_checkpoint, unflatten


def test_flatten_round_trip_of_optimizer_state(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    gen = torch.Generator().manual_seed(3)
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "generator": gen.get_state(), "step": 7,
             "nested": [1, (2.5, "a")]}
    skeleton, tensors = flatten(state)
    back = unflatten(skeleton, tensors)
    assert back["step"] == 7 and back["nested"] == [1, (2.5, "a")]
    save_checkpoint(tmp_path / "c.safetensors", state, info={"step": 7})
    loaded, info = load_checkpoint(tmp_path / "c.safetensors")
    assert info == {"step": 7}
    opt2 = torch.optim.AdamW(torch.nn.Linear(3, 2).parameters(), lr=0.5)
    opt2.load_state_dict(loaded["optimizer"])
    assert opt2.state_dict()["param_groups"][0]["lr"] == 0.1
    for k, v in opt.state_dict()["state"][0].items():
        assert torch.equal(torch.as_tensor(v), torch.as_tensor(opt2.state_dict()["state"][0][k]))
    assert torch.equal(loaded["generator"], gen.get_state())
    assert not (tmp_path / "c.safetensors.tmp").exists()


def test_ema_update_rule():
    p = torch.nn.Parameter(torch.zeros(3))
    ema = EMAModel([p], decay=0.9)
    for n, value in enumerate([1.0, 2.0, 3.0, 4.0, 5.0] * 4):
        prev = ema.shadow_params[0].clone()
        with torch.no_grad():
            p.fill_(value)
        ema.step([p])
        # diffusers: decay_n = min(decay, (1 + n') / (10 + n')) with n' = optimization_step - 1 (0 at the 1st step).
        d = min(0.9, (1 + n) / (10 + n)) if n > 0 else 0.0
        torch.testing.assert_close(ema.shadow_params[0], d * prev + (1 - d) * value)


def test_a_failed_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch):
    import errno

    import pytest
    from safetensors.torch import save_file

    from dpldm.errors import DpldmError
    from dpldm.training import resume_state

    path = tmp_path / "checkpoint.safetensors"
    save_checkpoint(path, {"weights": torch.arange(6.0), "step": 2}, info={"step": 2})

    def disk_full_mid_write(tensors, filename, metadata=None):
        save_file(tensors, filename, metadata=metadata)  # the bytes go out, then the disk fills up
        with open(filename, "r+b") as f:
            f.truncate(40)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(resume_state, "save_file", disk_full_mid_write)
    with pytest.raises(DpldmError, match="could not write checkpoint .*No space left on device.*previous one is kept"):
        save_checkpoint(path, {"weights": torch.zeros(6), "step": 4}, info={"step": 4})
    state, info = load_checkpoint(path)
    assert state["step"] == 2 and info == {"step": 2} and torch.equal(state["weights"], torch.arange(6.0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.json", "checkpoint.safetensors"]  # no .tmp

    # Interrupted (Ctrl-C) mid-write: the same, and the interrupt goes on up.
    def interrupted(tensors, filename, metadata=None):
        open(filename, "wb").write(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(resume_state, "save_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"weights": torch.zeros(6), "step": 4}, info={"step": 4})
    assert load_checkpoint(path)[0]["step"] == 2 and not (tmp_path / "checkpoint.safetensors.tmp").exists()
