"""Readable PNG grids of images, grey or colour, upscaled (nearest neighbour): ``image_grid`` writes each image's
label under it, ``class_grid`` gives each class one row with the class's name under the row."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

MIN_CELL = 96  # images are upscaled by a whole factor until their longer side reaches this many pixels
GAP = 2
LABEL_PX = 11
BACKGROUND, TEXT = (32, 32, 32), (235, 235, 235)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """DejaVu Sans from matplotlib's bundled fonts (Pillow's built-in bitmap font if that fails)."""
    from dpldm.data.glyphs import font_dir

    try:
        return ImageFont.truetype(str(font_dir() / "DejaVuSans.ttf"), size)
    except OSError:
        return ImageFont.load_default()


def _fit(text: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont, width: int) -> str:
    """``text`` cut (with an ellipsis) to at most ``width`` pixels."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


def image_grid(images: np.ndarray, labels: Sequence[str], *, columns: int | None = None,
               title: str | None = None) -> Image.Image:
    """An RGB grid of ``images`` (uint8 (N, H, W) or (N, H, W, 3)) with ``labels[i]`` under image ``i``.

    columns: images per row (default: a near-square grid). title: an optional line on top.
    """
    if len(images) != len(labels) or not len(images):
        raise ValueError(f"need one label per image and at least one image, got {len(images)} and {len(labels)}")
    n, h, w = images.shape[:3]
    rgb = images if images.ndim == 4 else np.repeat(images[..., None], 3, axis=-1)
    scale = max(1, math.ceil(MIN_CELL / max(h, w)))
    cell_w, cell_h = w * scale, h * scale
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    font = _font(LABEL_PX)
    label_h = LABEL_PX + 5
    title_h = LABEL_PX + 9 if title else 0
    canvas = Image.new("RGB", (columns * (cell_w + GAP) + GAP, title_h + rows * (cell_h + label_h + GAP) + GAP),
                       BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((GAP + 2, 3), _fit(title, font, canvas.width - 8), fill=TEXT, font=font)
    for i in range(n):
        x = GAP + (i % columns) * (cell_w + GAP)
        y = title_h + GAP + (i // columns) * (cell_h + label_h + GAP)
        canvas.paste(Image.fromarray(rgb[i]).resize((cell_w, cell_h), Image.Resampling.NEAREST), (x, y))
        text = _fit(str(labels[i]), font, cell_w - 2)
        draw.text((x + (cell_w - font.getlength(text)) / 2, y + cell_h + 2), text, fill=TEXT, font=font)
    return canvas


def save_grid(path: str | Path, images: np.ndarray, labels: Sequence[str], *, columns: int | None = None,
              title: str | None = None) -> Path:
    """Write ``image_grid(...)`` as a PNG at ``path`` (folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image_grid(images, labels, columns=columns, title=title).save(path, format="PNG")
    return path


def class_grid(images: np.ndarray, labels: np.ndarray, class_names: Sequence[str], *, max_classes: int = 50,
               per_row: int = 10, scale: int = 2) -> Image.Image:
    """An RGB grid of uint8 ``images`` ((N, H, W) grey or (N, H, W, 3) colour, shown as they are): one row per class
    present in ``labels`` (the first ``max_classes``), up to ``per_row`` of its images, its name written under it.

    Names go under the rows rather than beside them so that long ones (Tiny ImageNet's "Egyptian cat") are read in
    full; a name wider than the row is cut with an ellipsis.
    """
    if len(images) != len(labels) or not len(images):
        raise ValueError(f"need one label per image and at least one image, got {len(images)} and {len(labels)}")
    rgb = images if images.ndim == 4 else np.repeat(images[..., None], 3, axis=-1)
    classes = [c for c in range(len(class_names)) if (labels == c).any()][:max_classes]
    h, w = images.shape[1:3]
    cell_w, cell_h = w * scale, h * scale
    font = _font(LABEL_PX)
    label_h = LABEL_PX + 5
    row_h = cell_h + label_h + GAP
    canvas = Image.new("RGB", (GAP + per_row * (cell_w + GAP), GAP + len(classes) * row_h), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for r, c in enumerate(classes):
        top = GAP + r * row_h
        for k, i in enumerate(np.flatnonzero(labels == c)[:per_row]):
            tile = Image.fromarray(rgb[i]).resize((cell_w, cell_h), Image.Resampling.NEAREST)
            canvas.paste(tile, (GAP + k * (cell_w + GAP), top))
        draw.text((GAP + 2, top + cell_h + 2), _fit(str(class_names[c]), font, canvas.width - 2 * GAP - 4),
                  fill=TEXT, font=font)
    return canvas
