"""A readable PNG grid of sample images, each upscaled (nearest neighbour) with its label written under it."""

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
