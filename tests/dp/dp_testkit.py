"""Test kit for dpldm.dp: a tiny float64 model with Linear, Conv2d, LayerNorm, Embedding, a diffusers Attention
and frozen layers, and per-row losses for it; the smallest thing with every kind of layer DP-LDM fine-tunes."""

from __future__ import annotations

import torch
from diffusers.models.attention_processor import Attention
from torch import Tensor, nn

N_EXAMPLES = 24


class TinyDenoiser(nn.Module):
    """x (rows, 2, 4, 4), y (rows,) -> (rows, 16, 2)."""

    def __init__(self) -> None:
        super().__init__()
        self.frozen_in = nn.Conv2d(2, 2, 1)
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.label = nn.Embedding(3, 4)
        self.norm = nn.LayerNorm(4)
        self.attn = Attention(query_dim=4, heads=2, dim_head=2)
        self.frozen_mid = nn.Linear(4, 4)
        self.out = nn.Linear(4, 2)
        for layer in (self.frozen_in, self.frozen_mid):
            layer.requires_grad_(False)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        h = self.conv(self.frozen_in(x)).flatten(2).transpose(1, 2)  # (rows, 16, 4)
        h = self.norm(h + self.label(y)[:, None])
        h = h + self.attn(h)
        return self.out(torch.tanh(self.frozen_mid(h)))  # (rows, 16, 2)


def make_model(seed: int = 0) -> TinyDenoiser:
    torch.manual_seed(seed)
    return TinyDenoiser().double()


def make_data(n: int = N_EXAMPLES, seed: int = 1) -> dict[str, Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"x": torch.randn(n, 2, 4, 4, generator=g, dtype=torch.float64),
            "y": torch.randint(0, 3, (n,), generator=g),
            "target": torch.randn(n, 16, 2, generator=g, dtype=torch.float64),
            "noise": torch.randn(n, 2, 4, 4, generator=g, dtype=torch.float64)}


def row_loss(module: nn.Module, batch: dict[str, Tensor], noise: Tensor) -> Tensor:
    """Denoising-style loss per row: (rows,)."""
    pred = module(batch["x"] + 0.5 * noise, batch["y"])
    return ((pred - batch["target"]) ** 2).mean(dim=(1, 2))


class RecordingLoss:
    """Draws one noise per row from the generator (as a diffusion loss does) and records rows and draws."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, Tensor], Tensor]] = []

    def __call__(self, module: nn.Module, batch: dict[str, Tensor], generator: torch.Generator) -> Tensor:
        noise = torch.randn(batch["x"].shape, generator=generator, dtype=batch["x"].dtype)
        self.calls.append(({k: v.clone() for k, v in batch.items()}, noise))
        return row_loss(module, batch, noise)


def data_noise_loss(module: nn.Module, batch: dict[str, Tensor], generator: torch.Generator) -> Tensor:
    """The noise is part of each example, so the loss of an example does not depend on how rows are chunked."""
    return row_loss(module, batch, batch["noise"])


def zero_loss(module: nn.Module, batch: dict[str, Tensor], generator: torch.Generator) -> Tensor:
    """Runs the model but has zero gradient everywhere: what is left of an update is the DP noise."""
    return 0.0 * row_loss(module, batch, batch["noise"])


def trainable(module: nn.Module) -> list[tuple[str, nn.Parameter]]:
    return [(name, p) for name, p in module.named_parameters() if p.requires_grad]


def frozen(module: nn.Module) -> dict[str, Tensor]:
    return {name: p.detach().clone() for name, p in module.named_parameters() if not p.requires_grad}
