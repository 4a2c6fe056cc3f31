"""DPImageBench's three downstream classifiers for 32x32 images, written from their papers.

- ``CifarResNet``: He et al. 2016, CIFAR variant: 3 stages of basic blocks (widths w, 2w, 4w; w=16), depth 6n+2
  (ResNet-110: n=18).
- ``WideResNet``: Zagoruyko & Komodakis 2016, pre-activation blocks, widths 16, 16k, 32k, 64k, depth 6n+4,
  dropout between the two convolutions (WRN-40-4, dropout 0.3).
- ``ResNeXt``: Xie et al. 2017, CIFAR variant: bottleneck blocks of ``cardinality`` grouped convolutions, depth 9n+2,
  stage outputs base * widen_factor * (1, 2, 4), inner width cardinality * out / widen_factor
  (ResNeXt-29 8x4: cardinality 8, widen_factor 4, base 64, as DPImageBench configures it).
All take (B, C, H, W) in [-1, 1] and return logits (B, num_classes); global average pooling makes them size-agnostic.
Depth and width are constructor arguments so tests can build tiny ones.
"""

from __future__ import annotations

import torch
from torch import nn


def conv3x3(cin: int, cout: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, groups=groups, bias=False)


def shortcut(cin: int, cout: int, stride: int) -> nn.Module:
    """Identity, or a strided 1x1 convolution + BN when the shape changes."""
    if stride == 1 and cin == cout:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))


def init_weights(model: nn.Module) -> None:
    """He-normal convolutions (fan_out), BN at identity, zero linear bias."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv3x3(cin, cout, stride), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                                  conv3x3(cout, cout), nn.BatchNorm2d(cout))
        self.skip = shortcut(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


class CifarResNet(nn.Module):
    def __init__(self, *, in_channels: int = 3, num_classes: int = 10, depth: int = 110, width: int = 16) -> None:
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2 (20, 56, 110, ...), got {depth}")
        n = (depth - 2) // 6
        widths = [width, 2 * width, 4 * width]
        layers: list[nn.Module] = [conv3x3(in_channels, width), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        cin = width
        for stage, cout in enumerate(widths):
            for i in range(n):
                layers.append(BasicBlock(cin, cout, 2 if stage > 0 and i == 0 else 1))
                cin = cout
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())  # (B, 4w)
        self.fc = nn.Linear(cin, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


class WideBlock(nn.Module):
    """Pre-activation: BN-ReLU-conv-dropout-BN-ReLU-conv, plus the (projected) input."""

    def __init__(self, cin: int, cout: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.pre = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(inplace=True))
        self.body = nn.Sequential(conv3x3(cin, cout, stride), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                                  nn.Dropout(dropout), conv3x3(cout, cout))
        self.skip = None if stride == 1 and cin == cout else nn.Conv2d(cin, cout, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pre(x)
        return self.body(h) + (x if self.skip is None else self.skip(h))


class WideResNet(nn.Module):
    def __init__(self, *, in_channels: int = 3, num_classes: int = 10, depth: int = 40, widen: int = 4,
                 dropout: float = 0.3) -> None:
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"WideResNet depth must be 6n+4 (16, 28, 40, ...), got {depth}")
        n = (depth - 4) // 6
        widths = [16 * widen, 32 * widen, 64 * widen]
        layers: list[nn.Module] = [conv3x3(in_channels, 16)]
        cin = 16
        for stage, cout in enumerate(widths):
            for i in range(n):
                layers.append(WideBlock(cin, cout, 2 if stage > 0 and i == 0 else 1, dropout))
                cin = cout
        self.features = nn.Sequential(*layers, nn.BatchNorm2d(cin), nn.ReLU(inplace=True),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())  # (B, 64k)
        self.fc = nn.Linear(cin, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


class NeXtBlock(nn.Module):
    """1x1 reduce -> grouped 3x3 (cardinality groups) -> 1x1 expand, plus the (projected) input."""

    def __init__(self, cin: int, cout: int, stride: int, cardinality: int, widen_factor: int) -> None:
        super().__init__()
        inner = cardinality * cout // widen_factor
        self.body = nn.Sequential(
            nn.Conv2d(cin, inner, 1, bias=False), nn.BatchNorm2d(inner), nn.ReLU(inplace=True),
            conv3x3(inner, inner, stride, groups=cardinality), nn.BatchNorm2d(inner), nn.ReLU(inplace=True),
            nn.Conv2d(inner, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.skip = shortcut(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


class ResNeXt(nn.Module):
    def __init__(self, *, in_channels: int = 3, num_classes: int = 10, depth: int = 29, cardinality: int = 8,
                 widen_factor: int = 4, base: int = 64) -> None:
        super().__init__()
        if (depth - 2) % 9:
            raise ValueError(f"ResNeXt depth must be 9n+2 (29, ...), got {depth}")
        n = (depth - 2) // 9
        widths = [base * widen_factor, 2 * base * widen_factor, 4 * base * widen_factor]
        layers: list[nn.Module] = [conv3x3(in_channels, base), nn.BatchNorm2d(base), nn.ReLU(inplace=True)]
        cin = base
        for stage, cout in enumerate(widths):
            for i in range(n):
                layers.append(NeXtBlock(cin, cout, 2 if stage > 0 and i == 0 else 1, cardinality, widen_factor))
                cin = cout
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())  # (B, 4 base widen)
        self.fc = nn.Linear(cin, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))
