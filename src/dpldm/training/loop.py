"""The one training loop of every stage (train-autoencoder, pretrain, DP finetune).

A stage sets up its model, optimizer and data, and hands the loop a ``TrainingStep``: what one step computes (as
EDM splits training_loop.py from loss.py). On public data that is the batch's loss, and the loop takes the
gradient step (clipped to ``grad_clip``); for DP fine-tuning it is a ``DPSGDEngine`` (``dpldm.dp.engine``), which
takes the whole private update itself, and the loop never sees a loss. The loop owns the rest, the same for all:

- the run folder: ``TrainingLoop(config)`` refuses a folder whose config.yaml holds other settings before the
  stage reads any data (``dpldm.training.runlog.open_run``), and the config is recorded once set-up succeeded;
- resume: the folder's checkpoint is read back into every part, and the log loses its lines past it;
- the LR schedule (linear warm-up, then cosine decay to 10% of the peak; ``lr_lambda``) and the EMA of the trained
  weights, both per (logical) step;
- the stop at the first step whose loss or trained weights are not finite, before that step is saved;
- log lines every ``train.log_every`` steps and checkpoints every ``train.checkpoint_every`` steps, and both at the
  last step; the progress bar;
- interruption: a checkpoint is written whole or not at all (``dpldm.training.resume_state``), nothing is saved
  between checkpoints, so a run stopped anywhere (Ctrl-C, kill -9) resumes from its last checkpoint to the very
  result of an uninterrupted run, and the progress bar is closed whatever ends the loop.

What a checkpoint holds, by name, in this order: model, optimizer, scheduler, engine (DP), ema (when the stage has
one), generator (the step's own draws, public stages) and step. A DP run's step count is its engine's: the
accountant's, restored with the engine's state (its secret-randomness marker or its seeded generators, the sampler
and the ledger), so it is not saved twice.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
from diffusers.training_utils import EMAModel
from tqdm import tqdm

from dpldm.runlayout import PRIVATE, private_dir
from dpldm.training.resume_state import capture, restore, save_checkpoint
from dpldm.training.guards import non_finite, non_finite_error
from dpldm.training.runlog import RunLog, open_run, record_config, say_resumed


def lr_lambda(warmup: int, total: int):
    """Multiplier of the peak LR at a step: linear warm-up, then cosine decay to 10%."""

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    return f


class TrainingStep:
    """A stage's part of the loop. A public stage subclasses it and fills in ``loss``; DP fine-tuning passes its
    ``engine`` instead. ``params``: the trained parameters (the gradient is clipped over them, the EMA follows them,
    the non-finite check reads them); ``generator``: the draws ``loss`` makes (checkpointed); ``engine``: an object
    that takes the whole update itself (``DPSGDEngine``: ``step()``, ``steps_done``, ``epsilon()``, ``state_dict``)."""

    stage = ""  # the checkpoint's "stage" fact
    label = ""  # the progress bar's
    checkpoint_facts: tuple[str, ...] = ()  # keys of ``record`` also written beside each checkpoint

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, params: list[torch.Tensor], *,
                 generator: torch.Generator | None = None, engine: Any = None, grad_clip: float = 1.0) -> None:
        self.model, self.optimizer, self.params = model, optimizer, params
        self.generator, self.engine = generator, engine
        self.grad_clip = grad_clip  # the global gradient-norm clip of a public step

    def loss(self) -> torch.Tensor:
        """The mean loss of one batch of public data (the loop backpropagates it and steps the optimizer)."""
        raise NotImplementedError

    def record(self) -> dict[str, float]:
        """The log's values (besides step, lr and wall_s), and the checkpoint's ``checkpoint_facts``: called on the
        writing process at a step that logs or checkpoints, never otherwise."""
        return {}

    def started(self, run_dir: Path) -> None:
        """Called once, on the process that writes, after the config is recorded and before the log opens."""


class TrainingLoop:
    """loop = TrainingLoop(config) opens the run folder ``config.out_dir`` (at the very start of a stage: a refused
    folder costs nothing); the stage sets up, then ``loop.train(step, total)`` runs or resumes to ``total`` steps.

    config: a stage config with ``out_dir`` and a ``train`` section (lr, warmup_steps, log_every, checkpoint_every,
    threads). private: the checkpoint and the log go to ``out_dir/private`` (``dpldm.runlayout``). leader: whether
    this process writes files, logs and shows progress (with several processes, rank 0 alone; every process
    captures the checkpoint state together, as the DP engine's is collective)."""

    def __init__(self, config: Any, *, private: bool = False, leader: bool = True) -> None:
        self.config, self.train_cfg = config, config.train
        self.run_dir = open_run(config, out_dir=config.out_dir, threads=config.train.threads)
        self.private, self.leader = private, leader
        self.checkpoint_path = (self.run_dir / PRIVATE if private else self.run_dir) / "checkpoint.safetensors"
        self.ema: EMAModel | None = None
        self._ema_params: list[torch.Tensor] = []
        self.log: RunLog | None = None
        self.started_at = time.time()

    def train(self, step: TrainingStep, total: int, *, ema_decay: float | None = None, progress: bool = True) -> int:
        """Run (or resume) to ``total`` steps; returns the steps done. ema_decay: keep an EMA of ``step.params``
        (None: none); ``apply_ema`` then puts it into the weights."""
        train = self.train_cfg
        scheduler = torch.optim.lr_scheduler.LambdaLR(step.optimizer, lr_lambda(train.warmup_steps, total))
        if ema_decay is not None:
            self.ema, self._ema_params = EMAModel(step.params, decay=ema_decay), step.params
        parts = dict(model=step.model, optimizer=step.optimizer, scheduler=scheduler,
                     **{name: part for name, part in (("engine", step.engine), ("ema", self.ema),
                                                      ("generator", step.generator)) if part is not None})
        engine = step.engine
        done = 0
        if self.checkpoint_path.is_file():
            state = restore(self.checkpoint_path, **parts)
            done = engine.steps_done if engine is not None else state["step"]
            if self.ema is not None:
                self.ema.to(step.params[0].device)  # read onto the CPU; the optimizer's follows its parameters
            if self.leader:
                say_resumed(done, engine.epsilon() if engine is not None else None)
        if self.leader:
            record_config(self.config, self.run_dir)
            step.started(self.run_dir)
            self.log = RunLog(private_dir(self.run_dir) if self.private else self.run_dir, resume_step=done)

        def checkpoint(facts: dict[str, float]) -> None:
            # On every process (the engine's state is collective); a DP run's count is its engine's.
            state = capture(**parts) if engine is not None else capture(**parts, step=done)
            if self.leader:
                save_checkpoint(self.checkpoint_path, state, info={
                    "step": done, "stage": step.stage, **{k: facts[k] for k in step.checkpoint_facts}})

        bar = tqdm(total=total, initial=done, disable=not (progress and self.leader), desc=step.label, unit="step")
        self.started_at = time.time()
        try:
            while done < total:
                self.update(step, done)
                scheduler.step()
                if self.ema is not None:
                    self.ema.step(step.params)
                done += 1
                bar.update(1)
                log_now = self.leader and (done % train.log_every == 0 or done == total)
                save_now = done % train.checkpoint_every == 0 or done == total
                facts = step.record() if self.leader and (log_now or save_now) else {}
                if log_now:
                    self.log.write(step=done, **facts, lr=scheduler.get_last_lr()[0],
                                   wall_s=round(time.time() - self.started_at, 3))
                    if facts:
                        key, value = next(iter(facts.items()))
                        bar.set_postfix({key: f"{value:.4f}"})
                if save_now:
                    checkpoint(facts)
        finally:
            bar.close()
        return done

    def update(self, step: TrainingStep, done: int) -> None:
        """Step ``done + 1``: one optimizer update (the engine's, or a clipped gradient step on ``step.loss()``),
        stopped before anything is saved when the loss or a trained weight is no longer finite."""
        if step.engine is not None:
            step.engine.step()
            loss = None
        else:
            loss = step.loss()
            step.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(step.params, step.grad_clip)
            step.optimizer.step()
        # For DP only the weights after the noisy update are read: released anyway, so the check costs no privacy.
        if (loss is not None and not torch.isfinite(loss)) or non_finite(step.params):
            raise non_finite_error(done + 1, f"lower train.lr ({self.train_cfg.lr:g}) and run again",
                                   what="a trained weight" if loss is None else "the loss or a weight")

    def apply_ema(self) -> None:
        """Put the EMA's weights into the trained parameters (nothing without an EMA): the exported model's."""
        if self.ema is not None:
            self.ema.copy_to(self._ema_params)

    def elapsed(self) -> float:
        """Seconds since the first step of this process's loop began."""
        return time.time() - self.started_at
