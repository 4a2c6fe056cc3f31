"""Where the randomness that hides the private data comes from: Poisson sampling and the Gaussian noise.

DP-SGD's guarantee holds only against an adversary who cannot predict these draws. Anyone who can regenerate the
noise subtracts it from the released update and recovers the exact sum of clipped gradients; anyone who can
regenerate the Poisson masks knows which records were in each batch. So by default (``SecretRandom``) both come from
a stream seeded with 128 bits of fresh OS entropy (``os.urandom`` through numpy's ``SeedSequence``), created per run
and never written anywhere: not to the config, the log, a checkpoint or the model. A resumed run draws from a new
stream. ``SeededRandom`` is the reproducible mode for tests and debugging: its draws follow an integer seed, so the
run is NOT private against anyone who knows that seed, and its checkpoints carry the generator states.

Floating-point attacks. A sampler that draws a continuous distribution in floating point does not produce every
representable value, and which values it can produce depends on the draw's inputs. Mironov (2012, "On significance
of the least significant bits for differential privacy") showed that this breaks the textbook Laplace mechanism: the
set of outputs reachable from one input differs from the set reachable from a neighbour, so an output can reveal
the input exactly. Jin, McMurtry, Rubinstein and Ohrimenko (2022, "Are we there yet? Timing and floating-point
attacks on differential privacy systems") carried this to the Box-Muller/polar Gaussian samplers of numpy and
PyTorch and broke Opacus's noise. dpldm's secret mode follows Opacus's secure mode, the mitigation of Holohan and
Braghin (2021, "Secure random sampling in differential privacy", section 5.1): each noise coordinate is the sum of
2n = 4 independent standard normals (ziggurat, float64) divided by 2, which has the same N(0, 1) law but makes the
attack's search cost about 2^159 instead of 2^53; it is then scaled to std sigma*C and added in the parameters'
dtype. This is a heuristic against a known attack, not a proof: an exact discrete Gaussian (Canonne, Kamath and
Steinke 2020) on a fixed-point grid would close the gap and is not implemented. Neither stream is a cryptographically
secure generator (PCG64 in secret mode); their 128-bit state never leaves the process.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

SECURE_DRAWS = 4  # 2n standard normals summed per noise coordinate (Holohan and Braghin 2021, n = 2, as Opacus)


class DPRandom(Protocol):
    """The two kinds of draw DP-SGD needs; ``secret`` says whether an outsider can regenerate them."""

    secret: bool

    def uniform(self, n: int) -> Tensor:
        """n draws of U[0, 1), float, on the CPU."""

    def normal(self, shape: tuple[int, ...], *, std: float, dtype: torch.dtype, device: torch.device) -> Tensor:
        """N(0, std^2) noise of ``shape``."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class SecretRandom:
    """Draws from a PCG64 stream seeded with 128 bits of OS entropy; nothing about it is saved or restored."""

    secret = True

    def __init__(self) -> None:
        self._rng = np.random.default_rng()  # SeedSequence() with fresh entropy from os.urandom

    def uniform(self, n: int) -> Tensor:
        return torch.from_numpy(self._rng.random(n))  # [n] float64

    def normal(self, shape: tuple[int, ...], *, std: float, dtype: torch.dtype, device: torch.device) -> Tensor:
        shape = tuple(shape)
        draws = self._rng.standard_normal((SECURE_DRAWS, *shape))  # (4, *shape) float64
        z = draws.sum(axis=0) / np.sqrt(SECURE_DRAWS)  # N(0, 1): the sum of 4 has variance 4
        return torch.from_numpy(z * std).to(dtype=dtype, device=device)

    def state_dict(self) -> dict[str, Any]:
        return {"secret": True}  # the stream's state stays in this process

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state.get("secret"):
            raise ValueError("this state comes from a seeded (reproducible) run; it cannot continue with secret "
                             "randomness")


class SeededRandom:
    """Reproducible draws from torch generators seeded with ``seed``: NOT private against anyone who knows it."""

    secret = False

    def __init__(self, seed: int, device: torch.device | str = "cpu") -> None:
        self.generator = torch.Generator(device).manual_seed(int(seed))

    def uniform(self, n: int) -> Tensor:
        return torch.rand(n, generator=self.generator, device=self.generator.device)

    def normal(self, shape: tuple[int, ...], *, std: float, dtype: torch.dtype, device: torch.device) -> Tensor:
        return torch.normal(0.0, std, tuple(shape), generator=self.generator, dtype=dtype, device=device)

    def state_dict(self) -> dict[str, Any]:
        return {"secret": False, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("secret", False) or "generator" not in state:
            raise ValueError("this state comes from a run with secret randomness; it cannot continue seeded")
        self.generator.set_state(state["generator"])
