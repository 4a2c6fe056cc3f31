"""The downstream classifiers by name, each with its input size and training recipe.

- ``cnn``: the DPDM / DP-LDM evaluation CNN for 28x28 (three 3x3 convolutions 32-64-128 with max-pooling and dropout
  0.5, then FC 128 and FC classes; Adam lr 3e-4). Small enough for a CPU: the default.
- ``resnet``, ``wrn``, ``resnext``: DPImageBench's (ResNet-110, WRN-40-4 dropout 0.3, ResNeXt-29 8x4) at 32x32;
  Adam lr 0.01 multiplied by 0.2 every 20 epochs, 50 epochs, batch 256, weight EMA 0.9999, no augmentation.
  GPU-scale: tens of minutes per run on a GPU, days on 2 CPU cores.
- ``resnet20``: the CPU-sized colour classifier, the same CIFAR ResNet at depth 20 (n=3, 0.27M parameters, He et al.
  2016's smallest CIFAR model) trained for 10 epochs (Adam lr 0.01 x 0.2 every 4 epochs, batch 128, weight EMA
  0.999): the stated classifier of the CIFAR-10 rows on this CPU. One thread: 0.74 s per batch of 128, so ~6.5 min
  an epoch on 60,000 synthetic images with scoring. Not tuned. ``all`` stays the three GPU-sized ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from dpldm.evaluation.resnets import CifarResNet, ResNeXt, WideResNet


class DpdmCnn(nn.Module):
    """(B, C, S, S) in [-1, 1], S in {28, 32} or any S >= 20 -> logits (B, num_classes)."""

    def __init__(self, *, in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3), nn.MaxPool2d(2), nn.ReLU(), nn.Dropout(dropout),  # (B, 32, 13, 13) at 28
            nn.Conv2d(32, 64, 3), nn.MaxPool2d(2), nn.ReLU(), nn.Dropout(dropout),  # (B, 64, 5, 5)
            nn.Conv2d(64, 128, 3), nn.ReLU(), nn.Flatten())  # (B, 128 * 3 * 3) = (B, 1152)
        side = ((image_size - 2) // 2 - 2) // 2 - 2
        if side < 1:
            raise ValueError(f"the CNN needs images of at least 20x20, got {image_size}")
        self.head = nn.Sequential(nn.Linear(128 * side * side, 128), nn.ReLU(), nn.Linear(128, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@dataclass(frozen=True)
class TrainRecipe:
    epochs: int
    batch_size: int
    lr: float  # Adam learning rate
    lr_step_epochs: int | None = None  # multiply the lr by lr_gamma every this many epochs; None: constant
    lr_gamma: float = 1.0
    ema_decay: float | None = None  # evaluate an EMA of the weights (decay per step); None: the weights themselves


@dataclass(frozen=True)
class ClassifierSpec:
    name: str
    build: Callable[..., nn.Module]  # build(in_channels=, num_classes=, image_size=) -> module
    image_size: int | None  # inputs are resized to this; None: the dataset's own size
    recipe: TrainRecipe
    min_size: int = 1  # smaller inputs are resized up to this (the CNN's three conv/pool stages need 20x20)


def _cnn(*, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    return DpdmCnn(in_channels=in_channels, num_classes=num_classes, image_size=image_size)


def _resnet(*, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    return CifarResNet(in_channels=in_channels, num_classes=num_classes)


def _resnet20(*, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    return CifarResNet(in_channels=in_channels, num_classes=num_classes, depth=20)


def _wrn(*, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    return WideResNet(in_channels=in_channels, num_classes=num_classes)


def _resnext(*, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    return ResNeXt(in_channels=in_channels, num_classes=num_classes)


BENCH_RECIPE = TrainRecipe(epochs=50, batch_size=256, lr=0.01, lr_step_epochs=20, lr_gamma=0.2, ema_decay=0.9999)

CLASSIFIERS: dict[str, ClassifierSpec] = {
    "cnn": ClassifierSpec("cnn", _cnn, None, TrainRecipe(epochs=20, batch_size=128, lr=3e-4), min_size=28),
    "resnet": ClassifierSpec("resnet", _resnet, 32, BENCH_RECIPE),
    # EMA 0.999 rather than 0.9999: 10 epochs of ~470 steps are too few for a 10,000-step average to forget its
    # random start.
    "resnet20": ClassifierSpec("resnet20", _resnet20, 32, TrainRecipe(epochs=10, batch_size=128, lr=0.01,
                                                                        lr_step_epochs=4, lr_gamma=0.2,
                                                                        ema_decay=0.999)),
    "wrn": ClassifierSpec("wrn", _wrn, 32, BENCH_RECIPE),
    "resnext": ClassifierSpec("resnext", _resnext, 32, BENCH_RECIPE),
}
GPU_CLASSIFIERS = ("resnet", "wrn", "resnext")  # what `--classifier all` runs, as DPImageBench
