"""DP-SGD mechanics, independent of the model: Poisson sampling, per-example clipping, noise, virtual batches.

config    DPConfig: the typed config section of a private run
plan      DPPlan, make_plan: q, steps and the (calibrated) noise multiplier for a dataset size
sampler   PoissonSampler: logical batches as the accountants assume them
batch     Batch: a dict or tuple of [rows, ...] tensors
clipping  flat per-example clipping
gradient  PrivateGradient, LossFn: the noisy clipped gradient of one logical step, in bounded memory
engine    DPSGDEngine: sampling, gradient, optimizer step and privacy ledger, once per logical step; resumable
"""

from dpldm.dp.batch import Batch
from dpldm.dp.config import DPConfig
from dpldm.dp.engine import DPSGDEngine
from dpldm.dp.gradient import LossFn, PrivateGradient
from dpldm.dp.plan import DPPlan, make_plan
from dpldm.dp.sampler import PoissonSampler

__all__ = ["Batch", "DPConfig", "DPPlan", "DPSGDEngine", "LossFn", "PoissonSampler", "PrivateGradient", "make_plan"]
