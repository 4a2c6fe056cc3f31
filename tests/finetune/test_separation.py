"""Public and private data apart, by content: the public stages store the fingerprint of what they trained on, and
fine-tuning refuses private data that holds any of it (the tiny public model is trained on 600 8x8 glyphs)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from dpldm.bundle import PUBLIC_HASHES, load_autoencoder_hashes, load_bundle
from dpldm.cli.main import main
from dpldm.data import DataConfig, load_images
from dpldm.finetune.separation import UncheckedOverlapWarning
from tiny_configs import tiny

# The tiny public model's training data (tests/configs/tiny_autoencoder.yaml and tiny_ldm.yaml), as fine-tuning
# overrides.
PUBLIC_GLYPHS = ["data.name=glyphs", "data.options={count: 600, size: 8}"]


def finetune_args(model: Path, out: Path, *extra: str) -> list[str]:
    return ["finetune", "--config", tiny("tiny_finetune"), "--out", str(out), "--set", f"public_model={model}", *extra]


def test_the_public_stages_store_the_fingerprint_of_their_data(tiny_public_model, tiny_autoencoder):
    glyphs = load_images(DataConfig(name="glyphs", options={"count": 600, "size": 8}))
    # Obviously correct: a set of per-image BLAKE2b prefixes, read as little-endian integers.
    expected = sorted({int.from_bytes(hashlib.blake2b(b"(8, 8)" + image.tobytes(), digest_size=8).digest(), "little")
                       for image in glyphs.images})
    model = load_bundle(tiny_public_model)
    assert model.public_hashes.tolist() == expected
    assert model.facts["public_hashes"] == {"images": len(expected), "stages": ["train-autoencoder", "pretrain"]}
    assert load_autoencoder_hashes(tiny_autoencoder / "autoencoder").tolist() == expected
    facts = json.loads((tiny_public_model / "model.json").read_text())
    assert PUBLIC_HASHES in facts["sha256"]  # checked on load like the weights


def test_private_data_from_the_public_training_set_is_refused(tiny_public_model, tmp_path, capsys):
    out = tmp_path / "ft"
    for extra in (["--dry-run"], []):
        assert main(finetune_args(tiny_public_model, out, *PUBLIC_GLYPHS, "data.limit=100", *extra)) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert f"100 of the 100 private images (glyphs:train) are in the training data of the public model " \
               f"'{tiny_public_model}'" in err
    assert not (out / "privacy.json").exists() and not (out / "model").exists()
    assert not list(out.rglob("*.safetensors"))  # nothing encoded, no checkpoint


def test_disjoint_private_data_passes_without_a_warning(tiny_public_model, tmp_path, capsys):
    other_glyphs = ["data.name=glyphs", "data.options={count: 600, size: 8, seed: 1}"]  # other renderings
    for extra in ([], other_glyphs):  # the default private set (digits), and glyphs the public model never saw
        with warnings.catch_warnings():
            warnings.simplefilter("error", UncheckedOverlapWarning)
            assert main(finetune_args(tiny_public_model, tmp_path / "ft", *extra, "--dry-run", "--json")) == 0
        assert json.loads(capsys.readouterr().out)["private_examples"] > 0


def test_a_model_without_a_fingerprint_is_accepted_with_a_warning(tiny_public_model, tmp_path):
    old = tmp_path / "old_model"
    shutil.copytree(tiny_public_model, old)
    facts = json.loads((old / "model.json").read_text())
    del facts["sha256"][PUBLIC_HASHES], facts["public_hashes"]
    (old / "model.json").write_text(json.dumps(facts))
    (old / PUBLIC_HASHES).unlink()
    assert load_bundle(old).public_hashes is None
    with pytest.warns(UncheckedOverlapWarning, match=f"'{old}' records no fingerprint .* could not be checked"):
        assert main(finetune_args(old, tmp_path / "ft", *PUBLIC_GLYPHS, "--dry-run", "--json")) == 0


def test_an_autoencoder_without_a_fingerprint_leaves_the_check_partial(tiny_autoencoder, tmp_path):
    ae = tmp_path / "old_autoencoder"
    shutil.copytree(tiny_autoencoder / "autoencoder", ae)
    facts = json.loads((ae / "autoencoder.json").read_text())
    del facts["public_hashes"]
    (ae / "autoencoder.json").write_text(json.dumps(facts))
    (ae / PUBLIC_HASHES).unlink()
    with pytest.warns(UserWarning, match="no fingerprint of its training data"):
        assert main(["pretrain", "--config", tiny("tiny_ldm"), "--out", str(tmp_path / "ldm"),
                     "--set", f"autoencoder={ae}"]) == 0
    model = tmp_path / "ldm" / "model"
    assert load_bundle(model).facts["public_hashes"]["stages"] == ["pretrain"]
    with pytest.warns(UncheckedOverlapWarning, match="pretraining data only"):
        assert main(finetune_args(model, tmp_path / "ft", "--dry-run", "--json")) == 0
    with pytest.warns(UncheckedOverlapWarning):  # the pretraining data is still checked
        assert main(finetune_args(model, tmp_path / "ft", *PUBLIC_GLYPHS, "--dry-run")) == 2


def test_a_tampered_fingerprint_is_refused(tiny_public_model, tmp_path, capsys):
    changed = tmp_path / "changed"
    shutil.copytree(tiny_public_model, changed)
    np.save(changed / PUBLIC_HASHES, np.zeros(3, dtype=np.uint64))  # emptied: every check would pass
    assert main(finetune_args(changed, tmp_path / "ft", "--dry-run")) == 2
    assert f"{changed / PUBLIC_HASHES}: sha256 does not match" in capsys.readouterr().err


def test_a_shipped_model_refuses_a_split_of_its_own_public_dataset(tmp_path, capsys):
    # The shipped omniglot model was trained on omniglot 'all'; its 'background' split is part of that.
    if not (Path(os.environ.get("DPLDM_DATA", "/nonexistent")) / "omniglot.npz").is_file():
        pytest.skip("real datasets not available: set DPLDM_DATA to the shared data folder")
    args = ["finetune", "--config", "mnist_finetune", "--out", str(tmp_path / "ft"), "--dry-run", "--json",
            "--set", "public_model=omniglot"]
    assert main([*args, "data.name=omniglot", "data.split=background"]) == 2
    assert "19280 of the 19280 private images (omniglot:background) are in the training data of the public " \
           "model 'omniglot'" in capsys.readouterr().err
    with warnings.catch_warnings():
        warnings.simplefilter("error", UncheckedOverlapWarning)
        assert main(args) == 0  # MNIST, the private set it ships for
