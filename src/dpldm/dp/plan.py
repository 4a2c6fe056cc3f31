"""The concrete DP-SGD numbers of a run, resolved once from its config and the private dataset's size."""

from __future__ import annotations

from dataclasses import dataclass

from dpldm.dp.config import DPConfig
from dpldm.errors import DpldmError
from dpldm.privacy.accountant import Mechanism, calibrate_noise, composed_epsilon, epsilon, steps_for_epochs


@dataclass(frozen=True)
class DPPlan:
    """What the engine runs: ``steps`` logical steps of noise ``noise_multiplier`` at rate ``sample_rate``."""

    noise_multiplier: float  # sigma: noise std / max_grad_norm
    sample_rate: float  # q = expected_batch_size / dataset_size
    steps: int  # logical steps; epsilon after all of them is ``epsilon``
    expected_batch_size: int  # B: the divisor of the noisy summed gradient
    max_grad_norm: float  # C
    delta: float
    accountant: str
    target_epsilon: float | None  # the budget; ``epsilon`` <= ``target_epsilon`` whenever it is set
    epsilon: float  # spent after ``steps`` steps (composed with ``prior``)
    # Mechanisms run before on the same data whose output the run starts from (``dpldm.privacy.ledger``); the target
    # and ``epsilon`` are for all of them and the run composed.
    prior: tuple[tuple[float, float, int], ...] = ()


def check_delta_for_dataset(config: DPConfig, dataset_size: int) -> None:
    """Refuse delta >= 1/N unless ``allow_large_delta``: the mechanism that publishes one uniformly chosen example
    in full is (0, 1/N)-DP, so such a delta promises nothing."""
    if dataset_size >= 1 and config.delta * dataset_size >= 1 and not config.allow_large_delta:
        raise DpldmError(f"dp.delta {config.delta:g} is not below 1/N = {1 / dataset_size:.3g} for the "
                         f"{dataset_size} private examples, so it promises nothing (releasing one example in full "
                         f"meets it); lower dp.delta, or set dp.allow_large_delta: true to accept it")


def make_plan(config: DPConfig, *, dataset_size: int, prior: tuple[Mechanism, ...] = ()) -> DPPlan:
    """Resolve q, the number of steps and sigma (calibrated to the target when not given) for ``dataset_size``;
    with ``prior`` mechanisms on the same data, the target is for them and the run composed."""
    config.validate()
    if dataset_size < 1:
        raise DpldmError(f"the private dataset is empty (dataset_size={dataset_size})")
    check_delta_for_dataset(config, dataset_size)
    if config.expected_batch_size > dataset_size:
        raise DpldmError(f"dp.expected_batch_size {config.expected_batch_size} exceeds the dataset size "
                         f"{dataset_size} (private examples); lower it")
    sample_rate = config.expected_batch_size / dataset_size
    if config.steps is not None:
        steps = config.steps
    else:
        steps = steps_for_epochs(epochs=config.epochs, sample_rate=sample_rate)
    common = dict(sample_rate=sample_rate, steps=steps, delta=config.delta, accountant=config.accountant)
    sigma = config.noise_multiplier
    prior = tuple((float(s), float(q), int(t)) for s, q, t in prior)
    if sigma is None:
        sigma = calibrate_noise(target_epsilon=config.epsilon, prior=prior, **common)
    if prior:
        spent = composed_epsilon([*prior, (sigma, sample_rate, steps)], delta=config.delta,
                                 accountant=config.accountant)
    else:
        spent = epsilon(noise_multiplier=sigma, **common)
    if config.epsilon is not None and spent > config.epsilon:
        raise DpldmError(f"noise_multiplier {sigma} spends epsilon {spent:.4f} over {steps} steps, more than the "
                         f"target {config.epsilon}; raise it, or set it to null to calibrate")
    return DPPlan(noise_multiplier=sigma, sample_rate=sample_rate, steps=steps,
                  expected_batch_size=config.expected_batch_size, max_grad_norm=config.max_grad_norm,
                  delta=config.delta, accountant=config.accountant, target_epsilon=config.epsilon, epsilon=spent,
                  prior=prior)
