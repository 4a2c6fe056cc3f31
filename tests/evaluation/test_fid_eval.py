"""FID pipeline with a tiny feature extractor: caching, real-split sets, image-set loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dpldm.errors import DpldmError
from dpldm.data.transforms import to_shape
from dpldm.evaluation.fid_eval import evaluate_fid
from dpldm.evaluation.sources import load_image_set, parse_real, subsample_index


def test_fid_of_a_split_against_itself_is_zero(tiny_root: Path, tiny_features) -> None:
    result = evaluate_fid("real:mnist:train", dataset="mnist", split="train", n=None, extractor=tiny_features,
                          data_root=str(tiny_root))
    assert abs(result["fid"]) < 1e-6 and result["precision"] == 1.0 and result["recall"] == 1.0
    assert result["n_reference"] == 240 and result["features"] == "tiny-avgpool4"


def test_reference_features_are_cached(tiny_root: Path, tiny_features, synthetic_npz: Path,
                                       private_cache: Path) -> None:
    first = evaluate_fid(str(synthetic_npz), dataset="mnist", n=100, extractor=tiny_features,
                         data_root=str(tiny_root))
    cache = Path(first["reference_cache"])
    assert cache.is_file() and cache.is_relative_to(private_cache) and "mnist-train-n100-seed0" in cache.name

    class Refuses:
        name, dim = tiny_features.name, tiny_features.dim

        def __init__(self) -> None:
            self.seen = 0

        def features(self, images: np.ndarray) -> np.ndarray:
            self.seen += len(images)
            return tiny_features.features(images)

    counting = Refuses()
    again = evaluate_fid(str(synthetic_npz), dataset="mnist", n=100, extractor=counting, data_root=str(tiny_root))
    assert counting.seen == 100  # only the synthetic side was extracted
    assert again["fid"] == pytest.approx(first["fid"], rel=1e-5) and first["fid"] > 0


def test_image_sets_accept_x_y_and_real_names(tmp_path: Path, tiny_root: Path) -> None:
    path = tmp_path / "xy.npz"
    np.savez(path, x=np.zeros((4, 8, 8), np.uint8), y=np.array([0, 1, 2, 1]))
    assert load_image_set(str(path)).labels.tolist() == [0, 1, 2, 1]
    assert len(load_image_set("real:mnist:test", data_root=str(tiny_root))) == 200
    assert parse_real("real:fashion_mnist:train") == ("fashion_mnist", "train") and parse_real("a.npz") is None


@pytest.mark.parametrize("arrays, message", [
    ({"labels": np.zeros(3, np.int64)}, "no 'images'"),
    ({"images": np.zeros((3, 8, 8), np.float32), "labels": np.zeros(3, np.int64)}, "must be uint8"),
    ({"images": np.zeros((3, 8, 8), np.uint8)}, "accuracy needs labelled images"),
])
def test_bad_synthetic_sets_are_explained(tmp_path: Path, arrays: dict, message: str) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DpldmError, match=message):
        load_image_set(str(path))


def test_bad_real_spec_and_subsets() -> None:
    with pytest.raises(DpldmError, match="real:NAME:SPLIT"):
        parse_real("real:mnist")
    index = subsample_index(100, 10, seed=3)
    assert len(index) == 10 and np.array_equal(index, np.sort(index))
    assert np.array_equal(index, subsample_index(100, 10, seed=3))
    assert np.array_equal(subsample_index(5, 10, seed=0), np.arange(5))


def test_match_synthetic_converts_the_reference_to_the_samples_shape(tiny_root: Path, tiny_features,
                                                                     tmp_path: Path) -> None:
    # The real train split itself, as 16x16 "samples": against a matched reference it is the same set (FID 0).
    train = load_image_set("real:mnist:train", data_root=str(tiny_root))
    path = tmp_path / "small.npz"
    np.savez(path, images=to_shape(train.images, 16, 1), labels=train.labels)
    kwargs = dict(dataset="mnist", n=None, extractor=tiny_features, data_root=str(tiny_root))
    matched = evaluate_fid(str(path), match_synthetic=True, **kwargs)
    assert abs(matched["fid"]) < 1e-6 and matched["reference"] == "mnist:train as 16x16x1"
    assert "-as16px1ch-" in Path(matched["reference_cache"]).name
    assert evaluate_fid(str(path), **kwargs)["fid"] > 1e-3  # unconverted 28x28 reference differs

    # RGB samples: the grey reference is repeated to three channels.
    np.savez(path, images=to_shape(train.images, 16, 3), labels=train.labels)
    rgb = evaluate_fid(str(path), match_synthetic=True, **kwargs)
    assert abs(rgb["fid"]) < 1e-6 and rgb["reference"] == "mnist:train as 16x16x3"
