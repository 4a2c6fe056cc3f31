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

    def resized(self, num_classes: int) -> "ClassEmbedder":
        """A table for a new label set: fresh rows for the new classes, the learned null row kept.

        New (private) classes get rows of their own, initialised at the mean of the old class rows plus small
        noise, so fine-tuning starts from a context the UNet has seen.
        """
        new = ClassEmbedder(num_classes, self.embedding.embedding_dim).to(self.embedding.weight)
        with torch.no_grad():
            old = self.embedding.weight
            mean = old[: self.num_classes].mean(0)
            spread = old[: self.num_classes].std(0).mean() * 0.1
            gen = torch.Generator().manual_seed(num_classes)
            noise = torch.randn(num_classes, old.shape[1], generator=gen).to(old) * spread
            new.embedding.weight[:num_classes] = mean + noise
            new.embedding.weight[num_classes] = old[self.num_classes]
        return new


class TextProjector(nn.Module):
    """Token states of a text encoder (B, L, text_dim) -> context (B, L, dim), for text-conditional models."""

    def __init__(self, text_dim: int, dim: int):
        super().__init__()
        self.proj = nn.Linear(text_dim, dim)

    def forward(self, token_states: torch.Tensor) -> torch.Tensor:
        return self.proj(token_states)
