"""Every public model shipped in the package: its files match its manifest, it loads, and it carries the
fingerprint of its public training data (the private stage checks private data against it)."""

from __future__ import annotations

import pytest

from dpldm.public_models import bundled_models, resolve_model, verify_manifest


@pytest.mark.parametrize("name", sorted(bundled_models()))
def test_a_shipped_model_matches_its_manifest_and_loads(name):
    folder = bundled_models()[name]
    manifest = verify_manifest(folder)
    assert manifest["name"] == name and manifest["commands"], manifest.get("commands")
    model = resolve_model(name)
    assert model.public_hashes is not None and len(model.public_hashes) > 0
    assert len(model.class_names) > 1 and model.channels in (1, 3)
    assert model.latent_shape[0] == model.denoiser.unet.config.in_channels


def test_the_demo_and_bench_public_models_are_shipped():
    assert {"omniglot", "tiny_imagenet", "tiny_imagenet32", "glyphs", "glyphs8", "glyphs8_text"} <= set(bundled_models())
    assert resolve_model("glyphs8_text").text  # the text benchmark's public model
