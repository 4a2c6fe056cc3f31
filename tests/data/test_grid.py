"""Sample grids: one row per class, grey or colour images shown as they are, the class name under its row."""

from __future__ import annotations

import numpy as np
import pytest

from dpldm.data.grid import BACKGROUND, GAP, LABEL_PX, class_grid


def tile(image: np.ndarray, scale: int) -> np.ndarray:
    """Slow twin of the nearest-neighbour upscale: every pixel repeated scale x scale times, grey made RGB."""
    rgb = image if image.ndim == 3 else np.stack([image] * 3, axis=-1)
    return np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)


@pytest.mark.parametrize("colour", [True, False])
def test_class_grid_rows_hold_each_class_with_its_name_under_it(colour: bool) -> None:
    rng = np.random.default_rng(0)
    shape = (7, 32, 32, 3) if colour else (7, 28, 28)
    images = rng.integers(0, 256, shape, dtype=np.uint8)
    labels = np.array([2, 0, 2, 2, 0, 1, 2])
    names = ("airplane", "automobile", "a class name far too long to fit under a row of two images at all")
    scale = 2
    grid = np.asarray(class_grid(images, labels, names, per_row=2, scale=scale))
    h, w = images.shape[1] * scale, images.shape[2] * scale
    row_h = h + LABEL_PX + 5 + GAP
    assert grid.shape == (GAP + 3 * row_h, GAP + 2 * (w + GAP), 3)
    for row, cls in enumerate((0, 1, 2)):  # classes in order, the first per_row images of each
        top = GAP + row * row_h
        for k, i in enumerate(np.flatnonzero(labels == cls)[:2]):
            left = GAP + k * (w + GAP)
            np.testing.assert_array_equal(grid[top:top + h, left:left + w], tile(images[i], scale))
        band = grid[top + h:top + row_h - GAP]  # under the row: the name, light text on the background
        assert (band != BACKGROUND).any(axis=-1).sum() > 20
    # Class 1 has one image: the second cell of its row stays background.
    top = GAP + row_h
    assert (grid[top:top + h, GAP + w + GAP:GAP + 2 * w + GAP] == BACKGROUND).all()
    if colour:
        assert (grid[..., 0] != grid[..., 1]).any()


def test_class_grid_refuses_mismatched_labels() -> None:
    with pytest.raises(ValueError, match="one label per image"):
        class_grid(np.zeros((2, 8, 8), np.uint8), np.array([0]), ("a",))
