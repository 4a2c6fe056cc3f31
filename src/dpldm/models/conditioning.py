"""Conditioning of the latent UNet: the cross-attention context built from class labels or text token states.

As in the paper (and latent-diffusion's ``ClassEmbedder``), a class label becomes a single context token: a
learned embedding row. One extra row, the "null" label, is the unconditional input for classifier-free guidance.
A text-conditional model's condition is a caption's token ids (``TextConditioner``): a text encoder's token
states, projected to the UNet's context width; its null condition is the empty caption's ids.

Both conditioners answer ``null_like(cond)`` (the null condition for each row), so training code drops a condition
for classifier-free guidance with ``drop_condition`` whatever the kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from dpldm.models.text_encoder import DEFAULT_TEXT_ENCODER, TextEncoder


@dataclass
class ConditioningConfig:
    kind: Literal["class", "text"] = "class"  # class labels (the paper's class-conditional models) or captions
    text_encoder: str = DEFAULT_TEXT_ENCODER  # text only: the offline MiniLM, or a local HF BERT/CLIP text folder
    max_length: int = 32  # text only: tokens per caption (padded and truncated)

    def validate(self) -> None:
        if self.max_length < 2:
            raise ValueError(f"max_length must be at least 2 tokens, got {self.max_length}")


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

    def null_like(self, labels: torch.Tensor) -> torch.Tensor:
        return torch.full_like(labels, self.num_classes)

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


class TextConditioner(nn.Module):
    """token ids (B, L) -> context (B, L, dim): a text encoder's token states, through a ``TextProjector`` when its
    width differs from the UNet's context width (Stable Diffusion's CLIP states go in as they are)."""

    def __init__(self, encoder: TextEncoder, projector: TextProjector | None = None):
        super().__init__()
        self.encoder = encoder
        self.projector = projector
        self.register_buffer("null_ids", encoder.tokenize([""])[0], persistent=False)  # the empty caption

    def tokenize(self, texts: list[str] | tuple[str, ...]) -> torch.Tensor:
        return self.encoder.tokenize(texts)

    def null_like(self, ids: torch.Tensor) -> torch.Tensor:
        return self.null_ids.to(ids.device).expand_as(ids).clone()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        states = self.encoder(ids)
        return states if self.projector is None else self.projector(states)


def drop_condition(conditioner: nn.Module, cond: torch.Tensor, drop: torch.Tensor) -> torch.Tensor:
    """``cond`` with the rows where ``drop`` (B,) bool is true replaced by the null condition (classifier-free
    guidance's training-time dropout); labels (B,) and token ids (B, L) alike."""
    mask = drop.view(-1, *([1] * (cond.dim() - 1)))
    return torch.where(mask, conditioner.null_like(cond), cond)


def build_text_conditioner(cfg: ConditioningConfig, context_dim: int) -> TextConditioner:
    encoder = TextEncoder.from_pretrained(cfg.text_encoder, max_length=cfg.max_length)
    encoder.requires_grad_(False)
    return TextConditioner(encoder, TextProjector(encoder.dim, context_dim))
