"""New private classes' embedding rows: distinct public rows (default) or near the public mean; null row kept."""

from __future__ import annotations

import pytest
import torch

from dpldm.models.conditioning import ClassEmbedder


@pytest.fixture
def public() -> ClassEmbedder:
    torch.manual_seed(0)
    return ClassEmbedder(num_classes=5, dim=8)


def test_public_init_copies_distinct_public_rows_and_keeps_the_null_row(public):
    new = public.resized(3, init="public", seed=1)
    rows, old = new.embedding.weight.detach(), public.embedding.weight.detach()
    assert new.num_classes == 3 and new.null_label == 3 and rows.shape == (4, 8)
    picked = [int(torch.nonzero((old[:5] == row).all(1))[0]) for row in rows[:3]]
    assert len(set(picked)) == 3  # distinct public classes
    torch.testing.assert_close(rows[3], old[5], rtol=0, atol=0)  # null row
    assert torch.equal(public.resized(3, seed=1).embedding.weight, new.embedding.weight)  # seeded
    assert not torch.equal(public.resized(3, seed=2).embedding.weight, new.embedding.weight)


def test_public_init_reuses_rows_only_when_there_are_more_new_classes(public):
    rows = public.resized(7, init="public").embedding.weight.detach()[:7]
    assert len({tuple(r.tolist()) for r in rows}) == 5  # all 5 public rows used, 2 reused


def test_mean_init_starts_near_the_public_mean(public):
    old = public.embedding.weight.detach()[:5]
    rows = public.resized(4, init="mean").embedding.weight.detach()[:4]
    spread = old.std(0).mean()
    assert ((rows - old.mean(0)).abs().max() < spread)  # 10% of the spread as noise
    with pytest.raises(ValueError, match="init must be"):
        public.resized(4, init="zeros")


def test_copy_rows_start_as_the_named_public_rows(public):
    old = public.embedding.weight.detach()
    for init in ("public", "mean"):
        rows = public.resized(3, init=init, seed=1, copy_rows={0: 4, 2: 1}).embedding.weight.detach()
        assert torch.equal(rows[0], old[4]) and torch.equal(rows[2], old[1])
        assert torch.equal(rows[1], public.resized(3, init=init, seed=1).embedding.weight.detach()[1])
        assert torch.equal(rows[3], old[5])  # null row
    with pytest.raises(ValueError, match="copy_rows"):
        public.resized(3, copy_rows={0: 5})  # 5 is the null row, not a class


def test_private_classes_are_matched_to_public_ones_by_name():
    from dpldm.finetune.stage import same_name_rows

    public_names = ("A", "B", "0", "1", " Seven ")
    assert same_name_rows(("1", "0", "seven", "9"), public_names) == {0: 3, 1: 2, 2: 4}
    assert same_name_rows(("x",), public_names) == {}
