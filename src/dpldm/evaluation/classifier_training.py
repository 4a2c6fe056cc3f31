"""Training one classifier on (synthetic) images and scoring every epoch on held-out sets.

Scores are correct-counts per epoch; which epoch to report is decided afterwards by ``selection`` from the
validation counts alone, so the test counts never influence the choice. The validation counts may be noise-free
counts of private records: they are returned to the caller and never logged.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dpldm.evaluation.classifiers import TrainRecipe


@dataclass(frozen=True)
class LabelledTensors:
    """x: float32 (N, C, S, S) in [-1, 1]; y: int64 (N,)."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class EpochScores:
    """Correct-counts after each epoch: validation (E,), test (E,); train_loss: mean loss per epoch (E,)."""

    validation_correct: np.ndarray
    test_correct: np.ndarray
    train_loss: np.ndarray


class WeightEma:
    """Exponential moving average of a model's parameters (buffers such as BN statistics are copied live).

    The decay warms up as min(decay, (1 + n) / (10 + n)) after n updates (TensorFlow's ExponentialMovingAverage with
    num_updates): without it, a short run on a small synthetic set evaluates mostly its random start (a 0.999
    average keeps 0.999^780 = 46% of it after the 780 steps of 10 epochs on 10,000 images; BENCHMARKS.md)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.shadow = copy.deepcopy(model).eval()
        for p in self.shadow.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        self.updates += 1
        for s, p in zip(self.shadow.parameters(), model.parameters()):
            s.lerp_(p, 1.0 - decay)
        for s, b in zip(self.shadow.buffers(), model.buffers()):
            s.copy_(b)


@torch.no_grad()
def count_correct(model: nn.Module, data: LabelledTensors, *, batch_size: int, device: torch.device) -> int:
    model.eval()
    correct = 0
    for i in range(0, len(data), batch_size):
        logits = model(data.x[i:i + batch_size].to(device))  # (B, classes)
        correct += int((logits.argmax(1).cpu() == data.y[i:i + batch_size]).sum())
    return correct


def train_and_score(model: nn.Module, recipe: TrainRecipe, train: LabelledTensors, validation: LabelledTensors,
                    test: LabelledTensors, *, generator: torch.Generator, device: torch.device,
                    log: Callable[[str], None] | None = None) -> EpochScores:
    """Adam on cross-entropy for ``recipe.epochs`` epochs; after each, count correct on validation and test."""
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    scheduler = (torch.optim.lr_scheduler.StepLR(optimizer, recipe.lr_step_epochs, recipe.lr_gamma)
                 if recipe.lr_step_epochs else None)
    ema = WeightEma(model, recipe.ema_decay) if recipe.ema_decay is not None else None
    eval_batch = max(recipe.batch_size, 512)
    val_correct, test_correct, losses = [], [], []
    for epoch in range(recipe.epochs):
        # One pass over the shuffled training set.
        model.train()
        order = torch.randperm(len(train), generator=generator)
        total, seen = 0.0, 0
        for i in range(0, len(train), recipe.batch_size):
            index = order[i:i + recipe.batch_size]
            x, y = train.x[index].to(device), train.y[index].to(device)  # (B, C, S, S), (B,)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if ema is not None:
                ema.update(model)
            total += loss.item() * len(index)
            seen += len(index)
        if scheduler is not None:
            scheduler.step()

        # Score the evaluated weights.
        scored = ema.shadow if ema is not None else model
        val_correct.append(count_correct(scored, validation, batch_size=eval_batch, device=device))
        test_correct.append(count_correct(scored, test, batch_size=eval_batch, device=device))
        losses.append(total / max(seen, 1))
        if log is not None:
            log(f"  epoch {epoch + 1}/{recipe.epochs}: loss {losses[-1]:.4f}, "
                f"test accuracy {100.0 * test_correct[-1] / len(test):.2f}%")
    return EpochScores(np.array(val_correct), np.array(test_correct), np.array(losses))
