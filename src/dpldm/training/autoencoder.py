"""Stage 1: train the KL autoencoder on PUBLIC images; report reconstruction quality on public and private data."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from dpldm.bundle import save_autoencoder
from dpldm.data import prepare
from dpldm.data.config import DataConfig, load_images
from dpldm.data.fingerprint import fingerprint
from dpldm.errors import DpldmError
from dpldm.models.autoencoder import AutoencoderConfig, build_autoencoder
from dpldm.runlayout import private_dir
from dpldm.training.device import autocast, check_precision_on, resolve_device
from dpldm.training.loop import TrainingLoop, TrainingStep
from dpldm.training.runlog import plot_curves
from dpldm.training.settings import TrainSettings


@dataclass
class AutoencoderTrainConfig(TrainSettings):
    steps: int = 4000  # optimizer steps
    batch_size: int = 64  # images per step
    lr: float = 1e-3  # AdamW peak learning rate
    warmup_steps: int = 100  # linear LR warm-up, then cosine decay to 10% of lr
    weight_decay: float = 0.0  # AdamW weight decay
    kl_weight: float = 1e-6  # weight of KL(q(z|x) || N(0, I)) against the per-pixel reconstruction loss
    holdout: int = 1000  # public images held out from training, for the report (never trained on)
    log_every: int = 50  # steps between log lines
    checkpoint_every: int = 500  # steps between resumable checkpoints
    seed: int = 0  # seeds the split, initialisation and batches


@dataclass
class AutoencoderStageConfig:
    data: DataConfig = field(default_factory=lambda: DataConfig(name="omniglot", split="all"))  # PUBLIC images
    eval_private: list[DataConfig] = field(default_factory=list)  # private sets to report on (never trained on)
    model: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    train: AutoencoderTrainConfig = field(default_factory=AutoencoderTrainConfig)
    out_dir: str = "runs/autoencoder"  # run folder

    def validate(self) -> None:
        if self.model.in_channels != self.data.channels:
            raise ValueError(f"model.in_channels={self.model.in_channels} but data.channels={self.data.channels}: "
                             f"the autoencoder must take the images as they are prepared (1 grey, 3 colour)")


def kl_loss(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) summed over latent elements; shape [B]."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).flatten(1).sum(1)


@torch.no_grad()
def reconstruction_metrics(vae, x: torch.Tensor, batch_size: int = 256) -> dict[str, float]:
    """MSE in [0, 1] pixel units and PSNR (dB) of decode(mean(encode(x))) for images x in [-1, 1]."""
    vae.eval()
    device = next(vae.parameters()).device
    mses = []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].to(device)
        rec = vae.decode(vae.encode(xb).latent_dist.mean).sample.clamp(-1, 1)
        mses.append(((rec - xb) / 2).pow(2).flatten(1).mean(1).cpu())
    mse = torch.cat(mses)
    psnr = (10 * torch.log10(1.0 / mse.clamp_min(1e-10))).mean()
    return {"mse": float(mse.mean()), "psnr_db": float(psnr), "count": len(x)}


class AutoencoderStep(TrainingStep):
    """One batch's reconstruction loss: per-pixel MSE + kl_weight * KL per pixel (batches and the posterior's
    noise drawn from ``generator`` on the CPU)."""

    stage, label = "train-autoencoder", "autoencoder"

    def __init__(self, vae, optimizer: torch.optim.Optimizer, x_train: torch.Tensor, train: AutoencoderTrainConfig,
                 device: torch.device, generator: torch.Generator) -> None:
        super().__init__(vae, optimizer, list(vae.parameters()), generator=generator)
        self.x_train, self.cfg, self.device = x_train, train, device

    def loss(self) -> torch.Tensor:
        idx = torch.randint(len(self.x_train), (self.cfg.batch_size,), generator=self.generator)
        x = self.x_train[idx].to(self.device)
        with autocast(self.device, self.cfg.precision):  # the forward pass and the loss; backward, AdamW outside
            posterior = self.model.encode(x).latent_dist
            noise = torch.randn(posterior.mean.shape, generator=self.generator).to(self.device)
            rec = self.model.decode(posterior.mean + posterior.std * noise).sample
            self.rec_mse = (rec.float() - x).pow(2).flatten(1).mean(1)
            self.kl = kl_loss(posterior.mean.float(), posterior.logvar.float()) / x[0].numel()
            self.last = (self.rec_mse + self.cfg.kl_weight * self.kl).mean()
        return self.last

    def record(self) -> dict[str, float]:
        return {"loss": self.last.item(), "rec_mse": self.rec_mse.mean().item(), "kl": self.kl.mean().item()}


def train_autoencoder(cfg: AutoencoderStageConfig, *, data_root: str | None = None, download: bool = False,
                      progress: bool = True) -> dict:
    """Train (or resume) the autoencoder; writes the run folder and returns the metrics (those of ``eval_private``
    sets, keyed ``private:NAME:SPLIT``, are written to ``out_dir/private/metrics.json`` only)."""
    loop = TrainingLoop(cfg)
    run = loop.run_dir
    device = resolve_device(cfg.train.device)  # before any data is read: a missing GPU is one line, at once
    check_precision_on(cfg.train.precision, device)

    # Load public data and hold out a part for evaluation.
    public = load_images(cfg.data, root=data_root, download=download)
    x_all = prepare(public.images, size=cfg.data.image_size, channels=cfg.data.channels, fit=cfg.data.fit)
    perm = torch.randperm(len(x_all), generator=torch.Generator().manual_seed(cfg.train.seed))
    hold = min(cfg.train.holdout, len(x_all) // 10)
    x_hold, x_train = x_all[perm[:hold]], x_all[perm[hold:]]

    torch.manual_seed(cfg.train.seed)
    vae = build_autoencoder(cfg.model).to(device)  # initialised on the CPU: the same on every device
    opt = torch.optim.AdamW(vae.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    gen = torch.Generator().manual_seed(cfg.train.seed + 1)  # draws on the CPU: the same stream on every device
    vae.train()
    loop.train(AutoencoderStep(vae, opt, x_train, cfg.train, device, gen), cfg.train.steps, progress=progress)

    # Report reconstruction quality: held-out public, and private sets never trained on. The private sets' numbers
    # are exact statistics of private images, so they go to run/private/, never beside the releasable files.
    metrics = {"public_holdout": reconstruction_metrics(vae, x_hold)}
    (run / "metrics.json").write_text(json.dumps(metrics, indent=2))
    private = {}
    for pcfg in cfg.eval_private:
        try:
            priv = load_images(pcfg, root=data_root)
        except DpldmError as err:  # a missing private set only drops its line from the report
            private[f"private:{pcfg.name}:{pcfg.split}"] = {"skipped": str(err)}
            continue
        xp = prepare(priv.images, size=cfg.data.image_size, channels=cfg.data.channels, fit=pcfg.fit)
        private[f"private:{pcfg.name}:{pcfg.split}"] = reconstruction_metrics(vae, xp)
    if private:
        (private_dir(run) / "metrics.json").write_text(json.dumps(private, indent=2))
    save_reconstruction_grid(vae, x_hold[:32], run / "reconstructions.png")
    plot_curves(loop.log.read(), run / "loss.png", keys=("loss", "rec_mse"), title="autoencoder")
    # Every public image loaded counts as trained on (the held-out part too): the check against private data errs
    # on the side of refusing.
    save_autoencoder(run / "autoencoder", vae.cpu(), cfg.model, fingerprint(public.images))
    return {**metrics, **private}


@torch.no_grad()
def save_reconstruction_grid(vae, x: torch.Tensor, out: Path) -> None:
    """Originals (odd rows) above their reconstructions (even rows), 8 per row; grey or colour."""
    from PIL import Image

    from dpldm.data import from_unit_range

    vae.eval()
    rec = vae.decode(vae.encode(x.to(next(vae.parameters()).device)).latent_dist.mean).sample.cpu()
    a, b = from_unit_range(x), from_unit_range(rec)  # (N, H, W) grey or (N, H, W, 3) colour
    short = -len(a) % 8  # a last row of fewer than 8 images is filled with black ones
    a, b = (np.concatenate([v, np.zeros((short, *v.shape[1:]), v.dtype)]) for v in (a, b))
    rows = []
    for i in range(0, len(a), 8):
        rows += [np.concatenate(list(a[i:i + 8]), axis=1), np.concatenate(list(b[i:i + 8]), axis=1)]
    grid = np.concatenate(rows, axis=0)
    img = Image.fromarray(grid)
    img.resize((img.width * 3, img.height * 3), Image.NEAREST).save(out)

