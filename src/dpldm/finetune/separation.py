"""The private set must be apart from the public model's training data: checked by content, before any DP step.

Which data is public and which private is fixed by the stage: ``train-autoencoder`` and ``pretrain`` read public
data and store its fingerprint in the model they write (``dpldm.data.fingerprint``); ``finetune`` reads private
data and calls ``check_apart`` on it. An image in both sets was trained on without DP, so the fine-tuned model's
epsilon would not cover it: such a run is refused.
"""

from __future__ import annotations

import warnings

from dpldm.bundle import LatentDiffusion
from dpldm.data.config import DataConfig
from dpldm.data.fingerprint import count_in
from dpldm.data.images import LabelledImages
from dpldm.errors import DpldmError


class UncheckedOverlapWarning(UserWarning):
    """The public model carries no (or a partial) fingerprint of its training data, so overlap was not checked."""


def check_apart(model: LatentDiffusion, model_name: str, private: LabelledImages, data: DataConfig) -> None:
    """Raise DpldmError if any image of ``private`` is in ``model``'s public training data; warn when ``model``
    has no fingerprint to check against (models trained before fingerprints, such as the shipped ones)."""
    if model.public_hashes is None:
        warnings.warn(f"the public model '{model_name}' records no fingerprint of its training data, so overlap with "
                      f"the private data could not be checked; make sure they are apart", UncheckedOverlapWarning,
                      stacklevel=2)
        return
    stages = model.facts.get("public_hashes", {}).get("stages", [])
    if "train-autoencoder" not in stages:
        warnings.warn(f"the public model '{model_name}' has no fingerprint of its autoencoder's training data; the "
                      f"private data is checked against its pretraining data only", UncheckedOverlapWarning,
                      stacklevel=2)
    shared = count_in(private.images, model.public_hashes)
    if shared:
        raise DpldmError(f"{shared} of the {len(private)} private images ({data.name}:{data.split}) are in the "
                         f"training data of the public model '{model_name}', which was trained without DP; use "
                         f"private data apart from it")
