"""Which private validation split is free for a generator: the one its model.json says fine-tuning held out.

Private-val selection is epsilon-DP on the validation split, and the whole release is max(eps_generator, epsilon)-DP
only when the generator never trained on that split's records. Fine-tuning records in the released model.json
whether it held the split out (``holdout_validation``) and the split's key (``validation_split``, from
``dpldm.data.validation_split.split_facts``); evaluation reads them here and refuses a selection that would score
on trained-on records.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dpldm.errors import DpldmError
from dpldm.data.validation_split import SPLIT_SCHEME, VALIDATION_FRACTION
from dpldm.evaluation.sources import parse_real


def read_model_facts(spec: str | Path) -> dict[str, Any]:
    """model.json of a model folder, of a fine-tuning run folder (RUN/model), or of a shipped model by name."""
    from dpldm.public_models import bundled_models

    path = Path(spec)
    shipped = bundled_models()
    for candidate in (path / "model.json", path / "model" / "model.json",
                      *([shipped[str(spec)] / "model.json"] if str(spec) in shipped else [])):
        if candidate.is_file():
            try:
                return json.loads(candidate.read_text())
            except ValueError as err:
                raise DpldmError(f"{candidate}: not JSON ({err})") from None
    raise DpldmError(f"no model.json in {spec} or {path / 'model'}, and no shipped model of that name")


def free_split_key(*, synthetic: str, dataset: str, model: dict[str, Any] | None, requested: int | None) -> int:
    """The key of a private validation split of ``dataset``'s train split that the generator never trained on.

    ``model``: the generator's model.json facts (None for a real split as the training set, which has no
    generator: evaluation removes the validation split from it itself). ``requested``: the key the caller wants;
    None takes the model's. A DpldmError says why no split is free, or which one is.
    """
    if parse_real(synthetic) is not None:
        return 0 if requested is None else requested
    if model is None:
        raise DpldmError("private-val selection needs the generator's model (--model MODEL_OR_RUN_FOLDER) to check "
                         "that its fine-tuning held out the validation split; or use --selection synthetic-val")
    private = model.get("private_data")
    if private is None:  # a public model: it read no private record, so every split is free
        public = model.get("public_data") or {}
        if (public.get("name"), public.get("split")) == (dataset, "train"):
            raise DpldmError(f"model.json: the model was pretrained on {dataset}:train as public data, so no "
                             f"private validation split of it is free; use --selection synthetic-val")
        return 0 if requested is None else requested
    if (private.get("name"), private.get("split")) != (dataset, "train"):
        raise DpldmError(f"model.json: the model was fine-tuned on {private.get('name')}:{private.get('split')}, "
                         f"not on {dataset}:train, which private-val selection splits; check --dataset")
    if private.get("options"):
        raise DpldmError(f"model.json: private_data.options {private['options']} change the records, and evaluation "
                         f"loads {dataset} without them; use --selection synthetic-val")
    if "holdout_validation" not in model:
        raise DpldmError("model.json does not record holdout_validation (fine-tuned by an older dpldm), so the "
                         "split it held out is unknown; fine-tune again, or use --selection synthetic-val")
    if not model["holdout_validation"]:
        raise DpldmError(f"model.json: holdout_validation is false: fine-tuning trained on all of {dataset}:train, so "
                         f"no private validation split is free; use --selection synthetic-val")
    split = model.get("validation_split") or {}
    if split.get("scheme") != SPLIT_SCHEME or split.get("fraction") != VALIDATION_FRACTION:
        raise DpldmError(f"model.json: validation_split {split} is not this version's split ({SPLIT_SCHEME}, "
                         f"fraction {VALIDATION_FRACTION:.6g}); use --selection synthetic-val")
    key = int(split["key"])
    if requested is not None and requested != key:
        raise DpldmError(f"split key {requested} was not held out of the model's fine-tuning: its validation "
                         f"records were trained on; the free split is key {key} (model.json validation_split.key)")
    return key
