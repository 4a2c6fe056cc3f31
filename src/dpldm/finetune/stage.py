"""Stage 3 run: DP-SGD fine-tuning of a public latent diffusion model on PRIVATE images.

Privacy-relevant facts, in one place:
- the only thing computed from private images that leaves this function is the DP-SGD update (through
  ``DPSGDEngine``), and artefacts derived from the updated weights; the log holds epsilon, not private losses;
- the autoencoder is frozen and never sees a gradient from private data;
- a validation part of the private set (the evaluation protocol's) is held out from training by default.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from dpldm.bundle import LatentDiffusion
from dpldm.config import to_dict
from dpldm.data import prepare
from dpldm.data.config import DataConfig, load_images
from dpldm.data.dataset_key import dataset_key
from dpldm.diffusion.schedule import train_scheduler
from dpldm.dp import DPConfig, DPPlan, DPSGDEngine, make_plan
from dpldm.errors import DpldmError
from dpldm.data.validation_split import private_validation_split, split_facts
from dpldm.finetune.separation import check_apart
from dpldm.finetune.trainable import TrainableSpec, count_params, merge_lora, select_trainable
from dpldm.models.checkpointing import checkpoint_frozen_blocks
from dpldm.privacy.budget import BudgetConfig, Charge, plan_charge, record_charge
from dpldm.public_models import resolve_model, save_model
from dpldm.public_selection import prior_mechanisms
from dpldm.runlayout import PRIVATE, private_dir
from dpldm.training.denoising import GuidedEpsLoss
from dpldm.training.device import check_precision_on, resolve_device
from dpldm.training.distributed import barrier, join, leader_first
from dpldm.training.latents import cache_key, cached_latents, module_digest
from dpldm.training.loop import TrainingLoop, TrainingStep
from dpldm.training.runlog import plot_curves
from dpldm.training.settings import TrainSettings


@dataclass
class FinetuneTrainConfig(TrainSettings):
    lr: float = 1e-3  # AdamW peak learning rate
    weight_decay: float = 0.0  # AdamW weight decay
    warmup_steps: int = 0  # linear LR warm-up in logical steps, then cosine decay to 10% of lr
    ema_decay: float = 0.0  # EMA of the trained weights per logical step; 0 exports the last weights
    label_dropout: float = 0.1  # probability a label (or caption) becomes the null one (classifier-free guidance)
    log_every: int = 10  # logical steps between log lines
    checkpoint_every: int = 50  # logical steps between resumable checkpoints
    seed: int = 0  # seeds the choice (or noise) of the new classes' embedding rows
    # How new classes' embedding rows start: copies of distinct public rows, or near the public rows' mean; "names":
    # a class named as a public class (case and spaces aside) starts as that class's row, the others as "public".
    new_class_rows: Literal["public", "mean", "names"] = "public"
    # Recompute the activations of the UNet's frozen ResNets in the backward pass instead of keeping them
    # (dpldm.models.checkpointing): less memory at 256x256, same gradients, about one more forward of them per step.
    gradient_checkpointing: bool = False
    # The part of the diffusion's timesteps the fine-tuning draws t from, uniformly, as fractions of T:
    # [0.3, 1.0] spends every example-gradient on the noisier 70% of the chain, where the class decides the shape
    # (DPDM, Dockhorn et al. 2023, shift DP training to high noise levels). Sampling still runs the whole chain,
    # so t below the range keeps the public model's behaviour there.
    timestep_range: tuple[float, float] = (0.0, 1.0)

    def validate(self) -> None:
        super().validate()
        low, high = self.timestep_range
        if not 0.0 <= low < high <= 1.0:
            raise ValueError(f"timestep_range must be [low, high] with 0 <= low < high <= 1, got "
                             f"[{low}, {high}]")

    def t_range(self, num_train_timesteps: int) -> tuple[int, int] | None:
        """The integer [low, high) of t this range means for a T-step diffusion; None for all of it."""
        low, high = self.timestep_range
        if (low, high) == (0.0, 1.0):
            return None
        first = min(round(low * num_train_timesteps), num_train_timesteps - 1)  # at least one t, inside the chain
        return first, max(round(high * num_train_timesteps), first + 1)


@dataclass
class FinetuneConfig:
    public_model: str = "omniglot"  # a shipped public model's name, a model folder, or a Stable-Diffusion-format
    # diffusers folder (dpldm.sd_folder)
    data: DataConfig = field(default_factory=lambda: DataConfig(name="mnist", split="train"))  # PRIVATE images
    holdout_validation: bool = True  # keep the evaluation protocol's private validation split out of training
    trainable: TrainableSpec = field(default_factory=TrainableSpec)
    dp: DPConfig = field(default_factory=DPConfig)
    train: FinetuneTrainConfig = field(default_factory=FinetuneTrainConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)  # the cap on epsilon spent on this private set
    out_dir: str = "runs/finetune"  # run folder; the private model is exported to out_dir/model


@dataclass
class Prepared:
    """A fine-tuning set up but not yet run: what --dry-run reports."""

    model: LatentDiffusion
    trainable_modules: list[str]
    private_latents: torch.Tensor | None  # (N, c, h, w), scaled; None for a plan (dry run)
    private_labels: torch.Tensor  # (N,) class labels, or (N, L) caption token ids for a text-conditional model
    class_names: tuple[str, ...]
    validation_index: list[int]
    plan: DPPlan  # sigma, q, steps and epsilon, resolved once for the private training set
    charge: Charge | None = None  # the run's charge on its private set's ledger (dpldm.privacy.budget)

    def summary(self) -> dict:
        plan = self.plan
        trainable = count_params(self.model.denoiser, trainable_only=True)
        total = count_params(self.model.denoiser)
        return {"trainable_params": trainable, "total_params": total,
                "trainable_fraction": round(trainable / total, 4),
                "autoencoder_params": count_params(self.model.vae),
                "trainable_modules": self.trainable_modules, "private_examples": len(self.private_labels),
                "validation_held_out": len(self.validation_index),
                "noise_multiplier": plan.noise_multiplier, "sample_rate": plan.sample_rate, "steps": plan.steps,
                "expected_batch_size": plan.expected_batch_size, "max_grad_norm": plan.max_grad_norm,
                "epsilon": plan.epsilon, "target_epsilon": plan.target_epsilon, "delta": plan.delta,
                "accountant": plan.accountant}


def same_name_rows(private_names, public_names) -> dict[int, int]:
    """{private class: public class} for the classes whose names match, case and surrounding spaces aside.
    Class names are public metadata (the label set), not private data."""
    key = lambda name: str(name).strip().casefold()  # noqa: E731
    public_index = {key(name): j for j, name in enumerate(public_names)}
    return {i: public_index[key(name)] for i, name in enumerate(private_names) if key(name) in public_index}


def prepare_finetune(cfg: FinetuneConfig, *, data_root: str | None = None, download: bool = False,
                     progress: bool = True, encode: bool = True, device: torch.device | None = None) -> Prepared:
    """Load the public model and the private data, choose what is trained; encode the private latents unless
    ``encode`` is False (a dry run needs only the counts). device: where the model and the latents are put (the
    encoder runs there too); None keeps them on the CPU."""
    device = device or torch.device("cpu")
    model = resolve_model(cfg.public_model)
    private = load_images(cfg.data, root=data_root, download=download)
    check_apart(model, str(cfg.public_model), private, cfg.data)
    if model.format != "dpldm" and cfg.data.channels == model.channels and cfg.data.image_size % (
            model.image_size // model.latent_shape[1]) == 0:
        model.image_size = cfg.data.image_size  # a fully convolutional SD UNet fine-tunes at the data's size
    if (cfg.data.image_size, cfg.data.channels) != (model.image_size, model.channels):
        raise DpldmError(f"the public model makes {model.image_size}px images with {model.channels} channel(s); set "
                         f"data.image_size={model.image_size} and data.channels={model.channels}")
    validation = []
    index = torch.arange(len(private))
    if cfg.holdout_validation:
        train_idx, val_idx = private_validation_split(private.images, private.labels, seed=cfg.data.seed)
        index, validation = torch.from_numpy(train_idx), val_idx.tolist()
    # Private latents, cached once. The frozen encoder maps each image on its own (GroupNorm only, no statistics
    # across images), so z_i is a fixed function of x_i alone: caching z is per-example pre-processing and
    # changes nothing in the privacy analysis.
    run = Path(cfg.out_dir)
    # Delta, batch size and epsilon checked before anything is encoded. A public model whose data was chosen with
    # a DP release on private data (dpldm.public_selection) brings that mechanism: the target is for both.
    plan = make_plan(cfg.dp, dataset_size=len(index), prior=prior_mechanisms(model.facts))
    # The privacy budget of this private set (all its records: the ledger's key), checked before anything is encoded.
    charge = plan_charge(cfg.budget, key=dataset_key(private), run=run, plan=plan)
    z = None
    if encode:
        x = prepare(private.images[index.numpy()], size=cfg.data.image_size, channels=cfg.data.channels,
                    fit=cfg.data.fit)
        key = cache_key(data=to_dict(cfg.data), index=index.tolist(), autoencoder=module_digest(model.vae))
        z = cached_latents(private_dir(run) / "latents.safetensors", key, model.vae.to(device), x,
                           progress=progress).to(device) * model.scale_factor

    # New private classes get embedding rows of their own (the null row is kept). A text model is conditioned on
    # the captions instead: their token ids are the condition, computed here and never written anywhere.
    denoiser = model.denoiser
    if model.text:
        if private.captions is None:
            raise DpldmError(f"the public model is text-conditional but {cfg.data.name}:{cfg.data.split} has no "
                             f"captions; use the 'captions' dataset, or data.captions: labels")
        model.class_names = tuple(private.class_names)
    elif tuple(private.class_names) != tuple(model.class_names):
        if not cfg.trainable.class_embedder:
            raise DpldmError("the private classes differ from the public model's, so their embedding rows must be "
                             "trained: set trainable.class_embedder=true")
        same_name = (same_name_rows(private.class_names, model.class_names)
                     if cfg.train.new_class_rows == "names" else {})
        init = "public" if cfg.train.new_class_rows == "names" else cfg.train.new_class_rows
        denoiser.conditioner = denoiser.conditioner.resized(private.num_classes, init=init, seed=cfg.train.seed,
                                                            copy_rows=same_name)
        model.class_names = tuple(private.class_names)
    try:
        names = select_trainable(denoiser, cfg.trainable, seed=cfg.train.seed)
    except ValueError as err:
        raise DpldmError(str(err)) from None
    model.vae.requires_grad_(False)
    if cfg.train.gradient_checkpointing and not checkpoint_frozen_blocks(denoiser.unet):
        raise DpldmError("train.gradient_checkpointing: no UNet block has only frozen ResNets to recompute (the "
                         "trainable spec trains them); turn it off")
    denoiser.to(device)  # after the new rows and adapters exist, so they move too
    if model.text:
        labels = denoiser.conditioner.tokenize([private.captions[i] for i in index.tolist()]).to(device)
    else:
        labels = torch.from_numpy(private.labels[index.numpy()]).to(device)
    return Prepared(model, names, z, labels, tuple(private.class_names), validation, plan, charge)


class DPStep(TrainingStep):
    """A logical DP-SGD step, taken whole by the engine (sampling, clipping, noise, the optimizer step and the
    accountant); the loop sees no loss, and the log holds the epsilon spent. Before the first step the run's charge
    is recorded on its private set's ledger (a resume finds it there)."""

    stage, label, checkpoint_facts = "finetune", "DP fine-tune", ("epsilon",)

    def __init__(self, denoiser, optimizer, params, engine: DPSGDEngine, *, charge: Charge | None,
                 budget: BudgetConfig) -> None:
        super().__init__(denoiser, optimizer, params, engine=engine)
        self.charge, self.budget = charge, budget

    def record(self) -> dict[str, float]:
        return {"epsilon": self.engine.epsilon()}

    def started(self, run_dir: Path) -> None:
        if self.charge is not None:
            record_charge(self.charge, run_dir, self.budget)


def finetune(cfg: FinetuneConfig, *, data_root: str | None = None, download: bool = False,
             progress: bool = True) -> dict | None:
    """Run (or resume) DP fine-tuning; writes privacy.json and the private model to out_dir/model, and what must
    stay private (latents, checkpoint, log, summary) to out_dir/private (``dpldm.runlayout``).

    Started by torchrun with several processes, the ranks share each logical step (``dpldm.dp.distributed``) and
    rank 0 alone writes, logs and returns the summary; the other ranks return None."""
    device = resolve_device(cfg.train.device)  # before any data is read: a missing GPU is one line, at once
    check_precision_on(cfg.train.precision, device)
    with join(device) as (ranks, device):
        return _finetune(cfg, ranks, device, data_root=data_root, download=download, progress=progress)


def _finetune(cfg: FinetuneConfig, ranks, device: torch.device, *, data_root: str | None, download: bool,
              progress: bool) -> dict | None:
    leader = ranks is None or ranks.leader  # the one process that writes files, logs and shows progress
    progress = progress and leader
    loop = TrainingLoop(cfg, private=True, leader=leader)
    run, ckpt_path = loop.run_dir, loop.checkpoint_path
    if (run / "checkpoint.safetensors").is_file():
        raise DpldmError(f"{run} has the layout of an older dpldm: move its checkpoint.safetensors, checkpoint.json, "
                         f"latents.safetensors, log.jsonl and summary.json into {run / PRIVATE} to resume it")
    if not ckpt_path.is_file() and (run / "privacy.json").is_file():
        # Its checkpoint (with the accountant) is gone: starting afresh would spend epsilon again on the same data
        # while privacy.json went on stating one run's.
        raise DpldmError(f"{run} holds a finished DP run but not its checkpoint {ckpt_path}; a new run there would "
                         f"spend epsilon again unrecorded: use another --out")
    with leader_first(ranks):  # rank 0 encodes the private latents into the run's cache; the others read it
        prep = prepare_finetune(cfg, data_root=data_root, download=download, progress=progress, device=device)
    barrier(ranks)  # every rank has set up before rank 0 writes anything more
    plan_summary = prep.summary()  # before training: merging LoRA at export removes the adapters it counts
    model, denoiser = prep.model, prep.model.denoiser
    params = [p for p in denoiser.parameters() if p.requires_grad]
    objective = GuidedEpsLoss(denoiser.conditioner, train_scheduler(model.diffusion),
                              model.diffusion.num_train_timesteps, cfg.train.label_dropout, device,
                              cfg.train.precision, t_range=cfg.train.t_range(model.diffusion.num_train_timesteps))

    def loss_fn(module, batch, generator):  # -> (rows,) per-row eps loss; randomness only from `generator`
        return objective(module, batch["latents"], batch["cond"], generator)  # cond: labels, or caption token ids

    opt = torch.optim.AdamW(params, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    denoiser.train()
    engine = DPSGDEngine(denoiser, opt, loss_fn, {"latents": prep.private_latents, "cond": prep.private_labels},
                         config=cfg.dp, plan=prep.plan, ranks=ranks)
    # One logical DP-SGD step a loop step; the LR schedule and the EMA follow logical steps, never physical batches.
    loop.train(DPStep(denoiser, opt, params, engine, charge=prep.charge, budget=cfg.budget), engine.plan.steps,
               ema_decay=cfg.train.ema_decay if cfg.train.ema_decay > 0 else None, progress=progress)
    engine.close()
    if not leader:
        return None

    # Export the private model with the guarantee it was trained under.
    loop.apply_ema()
    merge_lora(denoiser)
    denoiser.cpu()  # the bundle is written from (and read back onto) the CPU
    model.vae.cpu()
    facts = engine.facts()
    (run / "privacy.json").write_text(facts.to_json())
    model.facts = {**model.facts, "privacy": json.loads(facts.to_json()), "private_data": to_dict(cfg.data),
                   # Which private validation split evaluation may select on (split_binding reads these).
                   "holdout_validation": cfg.holdout_validation,
                   "validation_split": split_facts(cfg.data.seed) if cfg.holdout_validation else None,
                   "public_model": str(cfg.public_model), "trainable": to_dict(cfg.trainable),
                   "finetune_steps": engine.steps_done}
    save_model(run / "model", model)
    plot_curves(loop.log.read(), run / "epsilon.png", keys=("epsilon",), title="privacy spent")
    summary = {**plan_summary, "epsilon_spent": facts.epsilon, "model": str(run / "model"),
               "wall_s": round(loop.elapsed(), 1)}
    (private_dir(run) / "summary.json").write_text(json.dumps(summary, indent=2))  # exact counts: private
    return summary
