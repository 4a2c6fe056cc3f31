"""glyphs: rendered letters, deterministic per seed, balanced, any size, letters (and digits) as classes."""

from __future__ import annotations

import numpy as np
import pytest

from dpldm.data import DataError, load_dataset
from dpldm.data.glyphs import render_glyphs, resolve_fonts


def test_same_seed_same_images_other_seed_other_images():
    a = load_dataset("glyphs", "train", count=300, seed=1)
    b = load_dataset("glyphs", "train", count=300, seed=1)
    c = load_dataset("glyphs", "train", count=300, seed=2)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, c.images)
    test = load_dataset("glyphs", "test", count=300, seed=1)
    assert not np.array_equal(a.images, test.images)


def test_mnist_like_images_and_balanced_letter_classes():
    data = load_dataset("glyphs", "train", count=520)
    assert data.images.shape == (520, 28, 28) and data.images.dtype == np.uint8
    assert data.class_names[:3] == ("A", "B", "C") and data.num_classes == 26
    assert np.bincount(data.labels).tolist() == [20] * 26
    border = np.concatenate([data.images[:, :2].ravel(), data.images[:, -2:].ravel()])
    assert border.mean() < 10 and data.images.max() == 255  # white ink on black, glyph inside the frame
    assert 15 < data.images.mean() < 90


def test_digits_size_and_case_options():
    data = load_dataset("glyphs", "test", count=72, size=16, include_digits=True, case="upper")
    assert data.images.shape == (72, 16, 16) and data.num_classes == 36 and data.class_names[26] == "0"
    assert np.bincount(data.labels, minlength=36).tolist() == [2] * 36


def test_limit_renders_exactly_those_images_of_the_full_set():
    full_images, full_labels = render_glyphs(200, 28, 5)
    subset = load_dataset("glyphs", "train", count=200, seed=5, limit=17, limit_seed=9)
    rows = np.flatnonzero(np.isin(np.arange(200), np.sort(np.random.default_rng(9).permutation(200)[:17])))
    np.testing.assert_array_equal(subset.images, full_images[rows])
    np.testing.assert_array_equal(subset.labels, full_labels[rows])


def test_fonts_option_and_bad_values():
    one_font = load_dataset("glyphs", "train", count=26, fonts="DejaVuSans.ttf, DejaVuSerif.ttf")
    assert len(one_font) == 26
    assert len(resolve_fonts(None)) == 16
    with pytest.raises(DataError, match="font 'Nope.ttf' not found"):
        load_dataset("glyphs", "train", count=5, fonts=["Nope.ttf"])
    with pytest.raises(DataError, match="case must be"):
        load_dataset("glyphs", "train", count=5, case="mixed")
    with pytest.raises(DataError, match="count >= 1"):
        load_dataset("glyphs", "train", count=0)


def test_box_sets_how_much_of_the_side_a_glyph_fills():
    small, _ = render_glyphs(200, size=16, seed=1, box=0.5)
    full, _ = render_glyphs(200, size=16, seed=1, box=1.0)
    # The same draws, a glyph twice as large: far more ink per image, and far more of it in the border rows.
    assert full.astype(float).sum() > 2.5 * small.astype(float).sum()
    border = lambda images: images[:, [0, -1], :].astype(float).sum()  # noqa: E731
    assert border(full) > 5 * border(small)
    with pytest.raises(DataError, match="box"):
        render_glyphs(4, size=8, box=1.5)
