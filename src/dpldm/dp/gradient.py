"""The noisy clipped gradient of one DP-SGD logical step, computed in bounded memory.

Notation (Abadi et al. 2016; DPDM, Dockhorn et al. 2023, for K):
    B -> expected_batch_size   b -> rows of the Poisson sample (random, may be 0)
    C -> max_grad_norm         sigma -> noise_multiplier        K -> noise_multiplicity
    g_i = (1/K) sum_k grad loss(example i, draw k)               (1) per-example gradient, K draws averaged
    g~_i = g_i * min(1, C / (||g_i|| + 1e-6))                    (2) flat clipping over all trainable parameters
    g^ = (sum_i g~_i + N(0, sigma^2 C^2 I)) / B                  (3) noise once per logical step, mean over B

Per-example gradients come from opacus's ``GradSampleModule`` in hooks mode, attached to the caller's module (the
module itself is unchanged and knows nothing of DP). Clipping, accumulation and noise are done here on top of
``p.grad_sample`` rather than with opacus's ``DPOptimizer``, because (1) averages the K rows of each example
before clipping, and (3) sums over physical chunks of a Poisson batch whose size is only known after sampling;
the tests compare every step with a slow, obviously correct twin.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from opacus import GradSampleModule
from opacus.validators import ModuleValidator
from torch import Tensor, nn

from dpldm.dp.batch import Batch, num_rows, repeat_rows, select_rows
from dpldm.dp.clipping import accumulate_clipped
from dpldm.dp.distributed import Ranks, from_leader, my_part, sum_over_ranks
from dpldm.dp import opacus_fastpath
from dpldm.dp.randomness import DPRandom
from dpldm.errors import DpldmError

LossFn = Callable[[nn.Module, Batch, torch.Generator], Tensor]
"""loss_fn(module, batch, generator) -> loss per row, shape [rows].

Row r's loss must depend only on row r of ``batch`` and on random draws (t, noise) made with ``generator``; it must
call ``module`` on the rows in the order given. With noise multiplicity K, ``batch`` holds each example K times,
example-major (rows i*K .. i*K+K-1 are example i), so drawing one (t, noise) per row gives K draws per example.
The batch and the generator are on the device of the trainable parameters. The module may run under autocast
(``train.precision: bf16``): the losses must come back in float32, and the per-example gradients are cast to each
parameter's dtype before clipping. The draws follow the generator through the physical chunks, so their values
depend on ``max_physical_batch``; the rest of the update does not.
"""


class PrivateGradient:
    """Computes g^ of formula (3) for the trainable parameters (``requires_grad``) of ``module``."""

    def __init__(self, module: nn.Module, loss_fn: LossFn, *, max_grad_norm: float, noise_multiplier: float,
                 expected_batch_size: int, noise_multiplicity: int = 1, max_physical_batch: int,
                 ranks: Ranks | None = None) -> None:
        if not max_grad_norm > 0:
            raise DpldmError(f"max_grad_norm must be positive, got {max_grad_norm}")
        if not noise_multiplier >= 0:
            raise DpldmError(f"noise_multiplier must be >= 0, got {noise_multiplier}")
        if expected_batch_size < 1 or noise_multiplicity < 1 or max_physical_batch < noise_multiplicity:
            raise DpldmError(f"need expected_batch_size >= 1 and max_physical_batch >= noise_multiplicity >= 1, got "
                             f"{expected_batch_size}, {max_physical_batch}, {noise_multiplicity}")
        errors = ModuleValidator.validate(module, strict=False)
        if errors:
            raise DpldmError(f"per-example gradients are not possible for this module: {errors[0]}")
        self.named_params = [(name, p) for name, p in module.named_parameters() if p.requires_grad]
        if not self.named_params:
            raise DpldmError("the module has no trainable parameters (requires_grad=True) to train privately")
        self.module = module
        self.loss_fn = loss_fn
        self.max_grad_norm = float(max_grad_norm)
        self.noise_multiplier = float(noise_multiplier)
        self.expected_batch_size = expected_batch_size
        self.noise_multiplicity = noise_multiplicity
        self.examples_per_pass = max_physical_batch // noise_multiplicity
        self.ranks = ranks  # several processes share each logical batch (dpldm.dp.distributed); None: one process
        self._hooks = GradSampleModule(module, batch_first=True, loss_reduction="sum", strict=True)

    @property
    def params(self) -> list[nn.Parameter]:
        return [p for _, p in self.named_params]

    def per_example(self, batch: Batch, generator: torch.Generator) -> list[Tensor]:
        """g_i of formula (1) for the b examples of ``batch``: one tensor [b, *param.shape] per trainable param."""
        b, k = num_rows(batch), self.noise_multiplicity
        rows = batch if k == 1 else repeat_rows(batch, k)  # b * K rows, example-major
        # Per-row losses, then per-row gradients from the hooks.
        for p in self.params:
            p.grad = None
        losses = self.loss_fn(self.module, rows, generator)  # [b * K]
        if losses.shape != (b * k,):
            raise ValueError(f"loss_fn must return one loss per row, shape ({b * k},); got {tuple(losses.shape)}")
        with warnings.catch_warnings():
            # Harmless: the first hooked layer's input (data) does not require grad.
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            with opacus_fastpath.in_place():  # per-example gradients stored without opacus's zero-filled copy
                losses.sum().backward()
        # Average the K draws of each example.
        grads = []
        for name, p in self.named_params:
            per_row = p.grad_sample  # [b * K, *p.shape], or None if p took no part in the loss
            if per_row is None:
                if p.grad is not None:
                    raise DpldmError(f"parameter '{name}' got a gradient but no per-example gradient: was it used "
                                     f"outside the module's forward?")
                per_row = torch.zeros((b * k, *p.shape), dtype=p.dtype, device=p.device)
            if not isinstance(per_row, Tensor) or per_row.shape[0] != b * k:
                raise DpldmError(f"parameter '{name}': per-example gradients do not match the {b * k} rows; "
                                 f"loss_fn must call the module once on the rows it was given")
            # In the parameter's dtype: under bf16 autocast opacus returns some layers' per-example gradients in
            # bf16; clipping, the sum and the noise stay in the weights' precision (float32).
            per_row = per_row.to(p.dtype)
            grads.append(per_row if k == 1 else per_row.reshape(b, k, *p.shape).mean(dim=1))
            p.grad_sample = None
            p.grad = None
        return grads

    def __call__(self, data: Batch, indices: Tensor, *, generator: torch.Generator,
                 noise: DPRandom) -> list[Tensor]:
        """g^ of formula (3) for the logical batch ``indices`` ([b], rows of ``data``): one tensor per param.

        The batch is processed in chunks of at most ``max_physical_batch`` rows (examples x K); only the running
        sum of clipped gradients is kept between chunks. Noise is drawn once, after the last chunk; apart from the
        loss's own draws (see ``LossFn``) the result does not depend on the chunk size. With ``ranks``, every rank
        must call this with the same ``indices`` (``dpldm.dp.distributed``), and all get the same result.
        ``generator`` feeds the loss's draws; ``noise`` the Gaussian noise (``dpldm.dp.randomness``: secret unless
        reproducible; with ranks, only rank 0's is used).
        """
        sums = [torch.zeros_like(p) for p in self.params]
        if self.ranks is not None:  # this rank's share of the logical batch
            indices = my_part(indices, self.ranks)
        # Clip and accumulate, chunk by chunk.
        for chunk in indices.split(self.examples_per_pass):
            if len(chunk) == 0:  # an empty Poisson sample: nothing to add, the noise still is
                continue
            grads = self.per_example(select_rows(data, chunk, self.params[0].device), generator)
            accumulate_clipped(sums, grads, max_grad_norm=self.max_grad_norm)
        if self.ranks is not None:  # the clipped sum over the whole logical batch, on every rank
            sum_over_ranks(sums)
        # Add noise: once per logical step in total (with several ranks, by rank 0 alone, which then sends it).
        if self.ranks is None or self.ranks.leader:
            std = self.noise_multiplier * self.max_grad_norm
            for total in sums:
                total.add_(noise.normal(tuple(total.shape), std=std, dtype=total.dtype, device=total.device))
        if self.ranks is not None:
            from_leader(sums)
        # Divide by the expected batch size B, not the sampled b (which is private).
        return [total / self.expected_batch_size for total in sums]

    def close(self) -> None:
        """Detach the hooks and opacus's attributes from the module's parameters."""
        self._hooks.cleanup()
