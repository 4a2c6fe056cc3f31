"""Conditioning of the latent UNet: the cross-attention context built from class labels or text token states.

As in the paper (and latent-diffusion's ``ClassEmbedder``), a class label becomes a single context token: a
learned embedding row. One extra row, the "null" label, is the unconditional input for classifier-free guidance.
"""

from __future__ import annotations

import torch
from torch import nn


class ClassEmbedder(nn.Module):
    """labels (B,) int64 in [0, num_classes] -> context (B, 1, dim); label ``num_classes`` is the null label."""

    def __init__(self, num_classes: int, dim: int):
        super().__init__()
        self.num_classes = num_classes
        self.embedding = nn.Embedding(num_classes + 1, dim)

    @property
    def null_label(self) -> int:
        return self.num_classes

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        return self.embedding(labels).unsqueeze(1)

    def resized(self, num_classes: int, *, init: str = "public", seed: int = 0,
                copy_rows: dict[int, int] | None = None) -> "ClassEmbedder":
        """A table for a new label set: fresh rows for the new classes, the learned null row kept.

        init="public": new row i starts as a copy of a distinct public class row (a seeded choice that looks at no
            data; rows are reused only when there are more new classes than public ones), so each new class starts
            from a context the UNet already tells apart from the others;
        init="mean": every new row starts at the mean of the public rows plus 10% of their spread as noise (the
            classes start almost alike and must be pulled apart by fine-tuning).
        copy_rows: {new class: public class} rows to copy as they are (e.g. classes of the same name), before
            ``init`` fills the others.
        """
        if init not in ("public", "mean"):
            raise ValueError(f"init must be 'public' or 'mean', got {init!r}")
        copy_rows = copy_rows or {}
        if any(not (0 <= i < num_classes and 0 <= j < self.num_classes) for i, j in copy_rows.items()):
            raise ValueError(f"copy_rows must map new classes (< {num_classes}) to public ones (< {self.num_classes})")
        new = ClassEmbedder(num_classes, self.embedding.embedding_dim).to(self.embedding.weight)
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            old = self.embedding.weight[: self.num_classes]
            if init == "public":
                order = torch.cat([torch.randperm(self.num_classes, generator=gen)
                                   for _ in range(-(-num_classes // self.num_classes))])
                new.embedding.weight[:num_classes] = old[order[:num_classes]]
            else:
                spread = old.std(0).mean() * 0.1
                noise = torch.randn(num_classes, old.shape[1], generator=gen).to(old) * spread
                new.embedding.weight[:num_classes] = old.mean(0) + noise
            for i, j in copy_rows.items():
                new.embedding.weight[i] = old[j]
            new.embedding.weight[num_classes] = self.embedding.weight[self.num_classes]
        return new


class TextProjector(nn.Module):
    """Token states of a text encoder (B, L, text_dim) -> context (B, L, dim), for text-conditional models."""

    def __init__(self, text_dim: int, dim: int):
        super().__init__()
        self.proj = nn.Linear(text_dim, dim)

    def forward(self, token_states: torch.Tensor) -> torch.Tensor:
        return self.proj(token_states)
