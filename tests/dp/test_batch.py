"""Rows handed to the per-example gradient hooks are contiguous, whatever the strides of the stored data.

Regression: opacus's per-example conv gradients on channels-last latents (freshly encoded latents carry such
strides) segfaulted torch's backward when attention in the UNet's down blocks was trained."""

from __future__ import annotations

import torch

from dpldm.dp.batch import select_rows
from dpldm.training.latents import cached_latents


def test_selected_rows_are_contiguous_and_equal_to_the_stored_rows():
    data = {"latents": torch.randn(6, 3, 4, 4).to(memory_format=torch.channels_last), "labels": torch.arange(6)}
    assert not data["latents"].is_contiguous()
    rows = select_rows(data, torch.tensor([4, 1, 1]), torch.device("cpu"))
    assert rows["latents"].is_contiguous()
    torch.testing.assert_close(rows["latents"], data["latents"][[4, 1, 1]], rtol=0, atol=0)
    assert rows["labels"].tolist() == [4, 1, 1]


class ChannelsLastEncoder(torch.nn.Module):
    """Stands in for an autoencoder whose encoder returns channels-last latents."""

    def encode(self, x):
        return x.to(memory_format=torch.channels_last)


def test_fresh_and_cached_latents_are_both_contiguous(tmp_path, monkeypatch):
    import dpldm.training.latents as latents

    monkeypatch.setattr(latents, "encode_mean", lambda vae, x: vae.encode(x))
    x = torch.randn(5, 3, 4, 4)
    fresh = cached_latents(tmp_path / "z.safetensors", "k", ChannelsLastEncoder(), x, progress=False)
    cached = cached_latents(tmp_path / "z.safetensors", "k", ChannelsLastEncoder(), x, progress=False)
    assert fresh.is_contiguous() and cached.is_contiguous()
    torch.testing.assert_close(fresh, cached, rtol=0, atol=0)
