"""Run under torchrun by tests/dp/test_distributed.py: each rank writes what its DP-SGD calls returned.

usage: torchrun --standalone --nproc-per-node R tests/dp/distributed_worker.py OUT_DIR
Writes OUT_DIR/rank<r>.pt with
    clipped_sum  the gradient of one logical step of all examples, sigma 0 (so only the clipped sum / B)
    noise        200 gradients of a zero loss at sigma 1, C 1, B 1: what is left is the DP noise itself
    engine       the trainable weights after 3 seeded DPSGDEngine steps
"""

import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dp_testkit import N_EXAMPLES, data_noise_loss, make_data, make_model, trainable, zero_loss  # noqa: E402

from dpldm.dp.config import DPConfig  # noqa: E402
from dpldm.dp.distributed import Ranks, share_indices  # noqa: E402
from dpldm.dp.engine import DPSGDEngine  # noqa: E402
from dpldm.dp.gradient import PrivateGradient  # noqa: E402
from dpldm.dp.randomness import SecretRandom  # noqa: E402

# Shared with the test, which computes the same things in one process.
CLIP = 0.05  # small enough that most examples are clipped
ENGINE_CONFIG = DPConfig(epsilon=None, noise_multiplier=1.0, accountant="rdp", max_grad_norm=0.1,
                         expected_batch_size=6, steps=3, max_physical_batch=4, seed=7)


def clipped_sum(ranks: Ranks | None) -> list[torch.Tensor]:
    model = make_model()
    grad = PrivateGradient(model, data_noise_loss, max_grad_norm=CLIP, noise_multiplier=0.0,
                           expected_batch_size=N_EXAMPLES, max_physical_batch=5, ranks=ranks)
    indices = torch.arange(N_EXAMPLES)
    if ranks is not None:
        # Only rank 0's sample counts: the others hold a wrong one, which share_indices replaces.
        indices = share_indices(indices if ranks.leader else torch.arange(3), ranks)
    return grad(make_data(), indices, generator=torch.Generator().manual_seed(0), noise=SecretRandom())


def noise_draws(ranks: Ranks | None, calls: int = 200) -> torch.Tensor:
    model = make_model()
    grad = PrivateGradient(model, zero_loss, max_grad_norm=1.0, noise_multiplier=1.0, expected_batch_size=1,
                           max_physical_batch=8, ranks=ranks)
    noise, data, gen = SecretRandom(), make_data(), torch.Generator().manual_seed(0)
    return torch.stack([torch.cat([g.flatten() for g in grad(data, torch.arange(8), generator=gen, noise=noise)])
                        for _ in range(calls)])


def engine_weights(ranks: Ranks | None) -> torch.Tensor:
    model = make_model()
    opt = torch.optim.SGD([p for _, p in trainable(model)], lr=1.0)
    engine = DPSGDEngine(model, opt, data_noise_loss, make_data(), config=ENGINE_CONFIG, ranks=ranks)
    while not engine.done:
        engine.step()
    return torch.cat([p.detach().flatten() for _, p in trainable(model)])


if __name__ == "__main__":
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    ranks = Ranks.current()
    result = {"clipped_sum": clipped_sum(ranks), "noise": noise_draws(ranks), "engine": engine_weights(ranks)}
    torch.save(result, Path(sys.argv[1]) / f"rank{ranks.rank}.pt")
    dist.destroy_process_group()
