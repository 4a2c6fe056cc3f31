"""Stage 2: train the class-conditional latent diffusion model on PUBLIC latents (DDPM eps-prediction).

With ``conditioning.kind: text`` the model is conditioned on the images' captions instead: a frozen text encoder
(the offline MiniLM by default) and a trained projector feed the cross-attention; captions are dropped to the empty
caption with probability ``label_dropout``, for classifier-free guidance."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from dpldm.bundle import (LatentDiffusion, build_denoiser, load_autoencoder, load_autoencoder_hashes, save_bundle,
                          sha256_file)
from dpldm.config import to_dict
from dpldm.data import prepare
from dpldm.data.config import DataConfig, load_images
from dpldm.data.fingerprint import fingerprint, merge
from dpldm.diffusion.schedule import DiffusionConfig, train_scheduler
from dpldm.errors import DpldmError
from dpldm.models.conditioning import ConditioningConfig
from dpldm.models.unet import UNetConfig
from dpldm.public_selection import FACTS_KEY, read_selection, selected_data, selection_fact
from dpldm.training.denoising import GuidedEpsLoss
from dpldm.training.device import check_precision_on, resolve_device
from dpldm.training.latents import cache_key, cached_latents, module_digest
from dpldm.training.loop import TrainingLoop, TrainingStep
from dpldm.training.runlog import plot_curves
from dpldm.training.settings import TrainSettings


@dataclass
class PretrainTrainConfig(TrainSettings):
    steps: int = 3000  # optimizer steps
    batch_size: int = 128  # latents per step
    lr: float = 1e-3  # AdamW peak learning rate
    warmup_steps: int = 200  # linear LR warm-up, then cosine decay to 10% of lr
    weight_decay: float = 0.0  # AdamW weight decay
    ema_decay: float = 0.999  # EMA of the weights (with the usual (1+n)/(10+n) warm-up); the EMA is exported
    label_dropout: float = 0.1  # probability a label (or caption) becomes the null one (classifier-free guidance)
    grad_clip: float = 1.0  # global gradient-norm clip (non-private training)
    log_every: int = 50  # steps between log lines
    checkpoint_every: int = 500  # steps between resumable checkpoints
    seed: int = 0  # seeds initialisation, batches, t and noise


@dataclass
class PretrainConfig:
    data: DataConfig = field(default_factory=lambda: DataConfig(name="omniglot", split="all"))  # PUBLIC images
    autoencoder: str | None = "runs/omniglot/autoencoder/autoencoder"  # folder of the trained autoencoder
    unet: UNetConfig = field(default_factory=UNetConfig)
    conditioning: ConditioningConfig = field(default_factory=ConditioningConfig)  # class labels, or captions
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    train: PretrainTrainConfig = field(default_factory=PretrainTrainConfig)
    out_dir: str = "runs/omniglot/ldm"  # run folder; the model is exported to out_dir/model
    # Warm start: a public model (shipped name or model folder) whose denoiser weights and latent scale this run
    # starts from, to continue or adapt it on more public data. Its unet, conditioning, classes and autoencoder
    # must be this run's; the exported model's public fingerprint is the union of both runs' data.
    init: str | None = None
    # What the warm start takes: "all" (the whole denoiser: continue the same model) or "unet" (the UNet only; the
    # conditioner starts fresh, so the conditioning and the classes may change, e.g. a class-conditional model's
    # UNet under a new text conditioner; its unet and diffusion settings must still be the init's).
    init_parts: str = "all"
    # A selection.json of `dpldm select-public`: train on its public classes only (data.classes from it). The public
    # data then depends on PRIVATE data through that DP release: the exported model records it (facts
    # "private_selections"), and a fine-tune from the model composes it with its own DP-SGD.
    selection: str | None = None

    def validate(self) -> None:
        if self.init_parts not in ("all", "unet"):
            raise DpldmError(f"init_parts must be 'all' or 'unet', not {self.init_parts!r}")


class PretrainStep(TrainingStep):
    """One batch's mean eps-prediction loss on public latents, conditions dropped for guidance (``GuidedEpsLoss``);
    the batch, the dropped conditions, t and the noise are drawn from ``generator``."""

    stage, label, checkpoint_facts = "pretrain", "pretrain", ("loss",)

    def __init__(self, denoiser, optimizer, params, latents: torch.Tensor, labels: torch.Tensor,
                 objective: GuidedEpsLoss, train: PretrainTrainConfig, generator: torch.Generator) -> None:
        super().__init__(denoiser, optimizer, params, generator=generator, grad_clip=train.grad_clip)
        self.latents, self.labels, self.objective, self.batch_size = latents, labels, objective, train.batch_size

    def loss(self) -> torch.Tensor:
        idx = torch.randint(len(self.latents), (self.batch_size,), generator=self.generator)
        z0, y = self.latents[idx.to(self.latents.device)], self.labels[idx]
        self.last = self.objective(self.model, z0, y, self.generator).mean()
        return self.last

    def record(self) -> dict[str, float]:
        return {"loss": self.last.item()}


def warm_start(cfg: PretrainConfig) -> LatentDiffusion:
    """The model ``cfg.init`` names, checked to be one this run can continue: same UNet, conditioning (unless only
    the UNet is taken) and schedule, and a public fingerprint to carry on. Its autoencoder is the run's (its
    weights were fit to those latents)."""
    from dpldm.public_models import resolve_model  # public_models sits above bundle; imported where it is used

    where = f"init: {cfg.init}"
    if cfg.autoencoder is not None:
        raise DpldmError(f"{where} brings its own autoencoder (its denoiser was fit to its latents): set "
                         f"autoencoder: null instead of {cfg.autoencoder}")
    init = resolve_model(cfg.init)
    if init.format != "dpldm" or init.unet_cfg is None:
        raise DpldmError(f"{where}: a warm start needs a dpldm model folder or shipped model, not a {init.format} one")
    checked = [("unet", cfg.unet, init.unet_cfg), ("diffusion", cfg.diffusion, init.diffusion)]
    if cfg.init_parts == "all":
        checked.append(("conditioning", cfg.conditioning, init.conditioning))
    for name, ours, theirs in checked:
        if to_dict(ours) != to_dict(theirs):
            hint = "; init_parts: unet takes its UNet only, under a new conditioner" if name == "conditioning" else ""
            raise DpldmError(f"{where}: its {name} settings differ from this run's; a warm start continues the same "
                             f"model (its {name}: {to_dict(theirs)}){hint}")
    if init.public_hashes is None:
        raise DpldmError(f"{where}: it has no fingerprint of its public training data, so the model this run "
                         f"exports could not be checked against private data")
    return init


def pretrain(cfg: PretrainConfig, *, data_root: str | None = None, download: bool = False,
             progress: bool = True) -> dict:
    """Train (or resume) the latent diffusion model; exports the EMA model bundle to ``out_dir/model``."""
    loop = TrainingLoop(cfg)
    run = loop.run_dir
    device = resolve_device(cfg.train.device)  # before any data is read: a missing GPU is one line, at once
    check_precision_on(cfg.train.precision, device)
    init = warm_start(cfg) if cfg.init else None
    if init is not None:
        vae, ae_cfg, ae_key = init.vae, init.autoencoder_cfg, module_digest(init.vae)
    elif cfg.autoencoder is None:
        raise DpldmError("autoencoder: null needs init: (a model whose autoencoder this run uses); give the folder "
                         "of a trained autoencoder")
    else:
        vae, ae_cfg = load_autoencoder(cfg.autoencoder)
        ae_key = sha256_file(Path(cfg.autoencoder) / "autoencoder.safetensors")
    if ae_cfg.latent_channels != cfg.unet.latent_channels:
        raise DpldmError(f"unet.latent_channels={cfg.unet.latent_channels} but the autoencoder's latents have "
                         f"{ae_cfg.latent_channels} channels")
    if ae_cfg.in_channels != cfg.data.channels:
        raise DpldmError(f"data.channels={cfg.data.channels} but the autoencoder takes images with "
                         f"{ae_cfg.in_channels} channel(s) (1 grey, 3 colour); set data.channels={ae_cfg.in_channels}")
    if cfg.data.image_size // ae_cfg.downsampling != cfg.unet.sample_size:
        raise DpldmError(f"unet.sample_size={cfg.unet.sample_size} but {cfg.data.image_size}px images give "
                         f"{cfg.data.image_size // ae_cfg.downsampling}px latents")

    # The public images (those of the selected classes, with a selection).
    data_cfg, selections = cfg.data, list(init.facts.get(FACTS_KEY, [])) if init is not None else []
    if cfg.selection is not None:
        chosen = read_selection(cfg.selection)
        data_cfg = selected_data(cfg.data, chosen)
        selections.append(selection_fact(chosen, cfg.selection))
    # Encode the public images once (frozen autoencoder) and scale latents to unit std.
    public = load_images(data_cfg, root=data_root, download=download)
    if init is not None and cfg.init_parts == "all" and tuple(init.class_names) != tuple(public.class_names):
        raise DpldmError(f"init: {cfg.init}: its classes ({len(init.class_names)}: {', '.join(init.class_names[:5])}"
                         f", ...) are not this data's ({public.num_classes}: {', '.join(public.class_names[:5])}, ...)")
    x = prepare(public.images, size=cfg.data.image_size, channels=cfg.data.channels, fit=cfg.data.fit)
    key = cache_key(data=to_dict(data_cfg), autoencoder=ae_key)
    z_all = cached_latents(run / "latents.safetensors", key, vae.to(device), x, progress=progress)
    vae.cpu()  # only the encoder was needed, and the bundle is written from the CPU
    # On the CPU: the same on every device. A warm start keeps its model's scale, which its weights were fit to.
    scale_factor = init.scale_factor if init else float(1.0 / z_all.std())
    z_all = (z_all * scale_factor).to(device)  # the latent cache lives where the model trains
    text = cfg.conditioning.kind == "text"
    if text and public.captions is None:
        raise DpldmError(f"conditioning.kind is text but {cfg.data.name}:{cfg.data.split} has no captions; use the "
                         f"'captions' dataset, or data.captions: labels")

    # Model and optimizer (the loop adds the LR schedule and the EMA).
    torch.manual_seed(cfg.train.seed)
    denoiser = build_denoiser(cfg.unet, public.num_classes, cfg.conditioning)  # initialised on the CPU
    if init is not None and cfg.init_parts == "unet":
        denoiser.unet.load_state_dict(init.denoiser.unet.state_dict())
    elif init is not None:
        denoiser.load_state_dict(init.denoiser.state_dict())
    # The condition of each image: its label, or its caption's token ids (the text encoder stays frozen).
    labels = denoiser.conditioner.tokenize(public.captions) if text else torch.from_numpy(public.labels)
    denoiser.to(device)
    params = [p for p in denoiser.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    objective = GuidedEpsLoss(denoiser.conditioner, train_scheduler(cfg.diffusion), cfg.diffusion.num_train_timesteps,
                         cfg.train.label_dropout, device, cfg.train.precision)
    # Batches, labels dropped, t and noise are drawn on the CPU (then moved), so the stream and its checkpointed
    # state do not depend on the device.
    gen = torch.Generator().manual_seed(cfg.train.seed + 1)
    denoiser.train()
    step = loop.train(PretrainStep(denoiser, opt, params, z_all, labels, objective, cfg.train, gen),
                      cfg.train.steps, ema_decay=cfg.train.ema_decay, progress=progress)

    # Export the EMA weights as the released public model, with the fingerprint of all its public data (the
    # autoencoder's and this stage's) for the private stage to check against.
    loop.apply_ema()
    denoiser.cpu()
    hashes, stages = fingerprint(public.images), ["pretrain"]
    if init is not None:  # its data (its autoencoder's included) shaped these weights; warm_start checked it is known
        hashes = merge(hashes, init.public_hashes)
        stages = [*init.facts.get("public_hashes", {}).get("stages", ["init"]), f"pretrain (from {cfg.init})"]
    elif (ae_hashes := load_autoencoder_hashes(cfg.autoencoder)) is None:
        warnings.warn(f"{cfg.autoencoder} has no fingerprint of its training data (trained by an older dpldm): "
                      f"fine-tuning this model can check private data against the pretraining data only")
    else:
        hashes, stages = merge(hashes, ae_hashes), ["train-autoencoder", "pretrain"]
    records = loop.log.read()
    plot_curves(records, run / "loss.png", keys=("loss",), title="latent diffusion pretraining")
    model = LatentDiffusion(
        vae=vae, denoiser=denoiser.eval(), autoencoder_cfg=ae_cfg, unet_cfg=cfg.unet, diffusion=cfg.diffusion,
        scale_factor=scale_factor, class_names=public.class_names, image_size=cfg.data.image_size,
        channels=cfg.data.channels,
        facts={"public_data": to_dict(data_cfg), "pretrain_steps": step,
               **({FACTS_KEY: selections} if selections else {}),
               "final_loss": records[-1]["loss"] if records else None,
               **({"init": {"model": cfg.init, "parts": cfg.init_parts, **{k: init.facts.get(k) for k in ("public_data", "pretrain_steps")}}}
                  if init is not None else {}),
               "public_hashes": {"images": len(hashes), "stages": stages}},
        public_hashes=hashes, conditioning=cfg.conditioning)
    save_bundle(run / "model", model)
    summary = {"steps": step, "final_loss": model.facts["final_loss"], "scale_factor": scale_factor,
               "params": sum(p.numel() for p in params), "model": str(run / "model")}
    (run / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
