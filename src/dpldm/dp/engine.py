"""DP-SGD training of any module from a per-example loss: one call to ``step`` is one logical step.

Wiring a model::

    def loss_fn(unet, batch, generator):              # -> [rows], one loss per row
        x0 = batch["latents"]                          # (rows, C, H, W)
        t = torch.randint(0, T, (len(x0),), generator=generator, device=x0.device)
        noise = torch.randn(x0.shape, generator=generator, device=x0.device)
        eps = unet(q_sample(x0, t, noise), t, batch["labels"])
        return ((eps - noise) ** 2).flatten(1).mean(1)

    for p in unet.parameters():
        p.requires_grad_(is_finetuned(p))              # only these get per-example gradients and updates
    optimizer = torch.optim.AdamW([p for p in unet.parameters() if p.requires_grad], lr=lr)
    engine = DPSGDEngine(unet, optimizer, loss_fn, {"latents": z, "labels": y}, config=dp_config)
    while not engine.done:
        engine.step()                                  # sample, clip, noise, optimizer.step, ledger.step
        scheduler.step(); ema.update(unet)             # per logical step, never per physical batch
    (run_dir / "privacy.json").write_text(engine.facts().to_json())
    engine.close()

Checkpoints hold the module's, the optimizer's and the engine's ``state_dict``; restoring all three continues the
run with the same plan and ledger. By default the sampling and the noise come from secret OS entropy
(``dpldm.dp.randomness``), which no checkpoint holds, so a resumed run draws fresh; with an explicit ``DPConfig.seed``
it continues exactly as if it had not stopped (and is not private against the seed's holders).

The engine returns nothing computed from the private data but the update: losses and sampled batch sizes are not
covered by the privacy guarantee, and are not reported.
"""

from __future__ import annotations

import json
import secrets
import warnings
from dataclasses import asdict, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from dpldm.dp.batch import Batch, num_rows
from dpldm.dp.config import DPConfig
from dpldm.dp.distributed import Ranks, gather_objects, share_indices
from dpldm.dp.gradient import LossFn, PrivateGradient
from dpldm.dp.plan import DPPlan, make_plan
from dpldm.dp.randomness import DPRandom, SecretRandom, SeededRandom
from dpldm.dp.sampler import PoissonSampler
from dpldm.errors import DpldmError
from dpldm.privacy.facts import PrivacyFacts
from dpldm.privacy.ledger import PrivacyLedger


class SeededRunWarning(UserWarning):
    """A DP run whose sampling and noise follow a known seed: reproducible, and not private against its holders."""


SEEDED_WARNING = ("dp.seed is set: Poisson sampling and the DP noise are reproducible from it, so this run is NOT "
                  "private against anyone who knows the seed (use it for tests and debugging only; leave dp.seed "
                  "null for a private run)")


class DPSGDEngine:
    """Runs the plan resolved from ``config`` on the private ``data`` (a dict or tuple of [N, ...] tensors).

    module: trained in place; only its parameters with ``requires_grad`` change, and only through ``optimizer``,
        which receives nothing but the noisy gradient. Frozen parameters stay bit-identical.
    optimizer: over (some of) the trainable parameters; AdamW as in DP-LDM.
    loss_fn: per-row losses, see ``dpldm.dp.gradient.LossFn``.
    ranks: this process's place when several processes (``torchrun``) share each logical step; every rank builds
        its engine on the same data, config and module, and calls ``step``, ``state_dict`` and ``load_state_dict``
        together (``dpldm.dp.distributed`` says how the mechanism stays that of one process). None: one process.
    """

    def __init__(self, module: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: LossFn, data: Batch, *,
                 config: DPConfig, plan: DPPlan | None = None, ranks: Ranks | None = None) -> None:
        self.dataset_size = num_rows(data)
        # The plan, resolved once: a caller that made it already (to show or charge it) passes it in.
        self.plan: DPPlan = plan if plan is not None else make_plan(config, dataset_size=self.dataset_size)
        if plan is not None and plan != replace(plan, sample_rate=config.expected_batch_size / self.dataset_size,
                                                expected_batch_size=config.expected_batch_size,
                                                max_grad_norm=config.max_grad_norm, delta=config.delta,
                                                accountant=config.accountant):
            raise DpldmError("the DP plan passed in was made for another config or dataset size than the engine's")
        self.data = data
        self.optimizer = optimizer
        self.gradient = PrivateGradient(
            module, loss_fn, max_grad_norm=self.plan.max_grad_norm, noise_multiplier=self.plan.noise_multiplier,
            expected_batch_size=self.plan.expected_batch_size, noise_multiplicity=config.noise_multiplicity,
            max_physical_batch=config.max_physical_batch, ranks=ranks)
        self.ranks = ranks
        device = self.gradient.params[0].device
        # Sampling and noise hide the private data: secret OS entropy unless a seed asks for a reproducible run.
        if config.seed is None:
            self.random: DPRandom = SecretRandom()
            sampler_random = self.random
            loss_seed = secrets.randbits(63)  # the loss's (t, noise) draws need no secrecy, only a fresh seed
        else:
            warnings.warn(SEEDED_WARNING, SeededRunWarning, stacklevel=2)
            sampler_seed, loss_seed, noise_seed = (int(s) for s in
                                                   np.random.SeedSequence(config.seed).generate_state(3))
            sampler_random = SeededRandom(sampler_seed)
            self.random = SeededRandom(noise_seed, device)
            if ranks is not None and not ranks.leader:  # each rank's share of the batch gets draws of its own
                loss_seed = int(np.random.SeedSequence([config.seed, ranks.rank]).generate_state(1)[0])
        self.sampler = PoissonSampler(num_examples=num_rows(data), sample_rate=self.plan.sample_rate,
                                      random=sampler_random)
        self.loss_generator = torch.Generator(device).manual_seed(loss_seed)  # the loss's (t, noise) draws
        self.ledger = PrivacyLedger(accountant=self.plan.accountant, noise_multiplier=self.plan.noise_multiplier,
                                    sample_rate=self.plan.sample_rate, delta=self.plan.delta, prior=self.plan.prior)

    @property
    def steps_done(self) -> int:
        return self.ledger.steps

    @property
    def done(self) -> bool:
        """All planned steps taken: one more would spend more than the plan (and the target) allows."""
        return self.ledger.steps >= self.plan.steps

    def step(self) -> int:
        """One logical step: Poisson sample, clipped per-example gradients, noise, one optimizer step.

        returns: the number of logical steps done so far.
        """
        if self.done:
            raise DpldmError(f"all {self.plan.steps} planned steps are done; another step would spend more privacy "
                             f"than planned (epsilon {self.plan.epsilon:.4f})")
        # Sample the logical batch (with several ranks: rank 0's sample, on every rank).
        indices = self.sampler.sample()  # [b]
        if self.ranks is not None:
            indices = share_indices(indices, self.ranks)
        # Noisy mean of clipped per-example gradients.
        noisy = self.gradient(self.data, indices, generator=self.loss_generator, noise=self.random)
        # Update the model.
        for p, grad in zip(self.gradient.params, noisy, strict=True):
            p.grad = grad
        self.optimizer.step()
        for p in self.gradient.params:
            p.grad = None
        # Update the accountant.
        self.ledger.step()
        return self.ledger.steps

    def epsilon(self) -> float:
        """Epsilon spent so far (at the plan's delta)."""
        return self.ledger.epsilon()

    def facts(self) -> PrivacyFacts:
        """The privacy guarantee of the steps taken so far, for ``privacy.json``."""
        facts = self.ledger.facts(target_epsilon=self.plan.target_epsilon)
        notes = [] if self.random.secret else [SEEDED_WARNING]
        if self.plan.delta * self.dataset_size >= 1:  # only with dp.allow_large_delta (make_plan refuses it otherwise)
            notes.append(f"delta {self.plan.delta:g} is not below 1/N (N = {self.dataset_size}): a mechanism that "
                         f"publishes one record outright meets such a guarantee (allowed by dp.allow_large_delta)")
        return replace(facts, secret_randomness=self.random.secret, note=" ".join(notes) or None)

    def state_dict(self) -> dict[str, Any]:
        """Everything but the module and the optimizer, which the caller saves beside it. A private file: with a
        seed it holds the generator states that regenerate the noise; in secret mode it holds none. With several
        ranks it is rank 0's, plus every rank's loss generator (a collective call: every rank makes it)."""
        state = {"plan": asdict(self.plan), "sampler": self.sampler.state_dict(),
                 "loss_generator": self.loss_generator.get_state(),
                 "noise": self.random.state_dict(), "ledger": self.ledger.state_dict()}
        if self.ranks is not None:
            state["rank_loss_generators"] = gather_objects(self.loss_generator.get_state(), self.ranks)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        # As JSON values (tuples and lists alike); a checkpoint from before prior mechanisms had none.
        saved, mine = json.loads(json.dumps({"prior": [], **state["plan"]})), json.loads(json.dumps(asdict(self.plan)))
        if saved != mine:
            changed = sorted(k for k, v in mine.items() if saved.get(k) != v)
            raise DpldmError(f"cannot resume: the DP plan changed ({', '.join(changed)}); resume with the same "
                             f"DP config and data")
        saved_secret = state["noise"].get("secret", False)
        if saved_secret != self.random.secret:
            raise DpldmError("cannot resume: the run was started with "
                             + ("secret randomness; dp.seed must stay null" if saved_secret else
                                "dp.seed set (reproducible, not private against the seed's holders); keep the seed"))
        # Each rank resumes its own loss generator; a run resumed with another number of processes has none to
        # resume (fine with secret randomness, which draws afresh anyway).
        world = 1 if self.ranks is None else self.ranks.world_size
        saved_world = len(state.get("rank_loss_generators", [None]))
        if saved_world != world:
            if not self.random.secret:
                raise DpldmError(f"cannot resume: this seeded run was started with {saved_world} process(es); resume "
                                 f"it with the same number")
            loss_state = None
        else:
            loss_state = state["loss_generator"] if world == 1 else state["rank_loss_generators"][self.ranks.rank]
        # A generator's state is specific to its kind of device (a CPU one is 5056 bytes, a CUDA one 16), and the
        # loss generator and a seeded noise generator live on the trainable parameters' device.
        if loss_state is None:
            pass
        elif loss_state.numel() != self.loss_generator.get_state().numel():
            if not self.random.secret:
                raise DpldmError("cannot resume: this seeded run was started on another kind of device (its "
                                 "generator states are device-specific); resume it with its first train.device")
            # Secret mode: the loss's (t, noise) draws need only a fresh seed, which the new generator has.
        else:
            self.loss_generator.set_state(loss_state)
        self.sampler.load_state_dict(state["sampler"])
        self.random.load_state_dict(state["noise"])
        self.ledger.load_state_dict(state["ledger"])

    def close(self) -> None:
        """Detach the per-example gradient hooks from the module."""
        self.gradient.close()
