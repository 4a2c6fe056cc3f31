"""``glyphs``: a synthetic, public set of letters (and optionally digits) rendered from fonts, like EMNIST letters.

Offline stand-in for EMNIST letters as *public* data for MNIST-like private sets: white ink on black, each glyph
fitted into the central 20/28 of the canvas (as MNIST digits are), then randomly distorted. Nothing is
downloaded: the fonts are the DejaVu and STIX TrueType files that ship inside matplotlib.

Rendering (deterministic for a given seed, split and count, on any machine with the same Pillow/FreeType):
1. every (font, character) pair is rendered once with Pillow at twice the output size and cached;
2. each sample draws a font, a case, a random affine map (rotation, shear, scale, aspect, translation), applied
   with Pillow at that resolution, and a stroke width (grey-level dilation by 0, 1 or 2 steps);
3. the result is area-averaged over 2x2 blocks down to ``size`` x ``size``, which anti-aliases the edges.
Labels: 0..25 = A..Z (upper and lower case merged, as in EMNIST letters), then 26..35 = 0..9 with digits.
"""

from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from dpldm.data.checks import DataError, checked
from dpldm.data.images import LabelledImages
from dpldm.data.splits import sample_indices

DEFAULT_FONTS = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf", "DejaVuSansMono-BoldOblique.ttf",
    "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf",
    "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf",
)
DEFAULT_COUNT = {"train": 60000, "test": 10000}
SPLIT_STREAM = {"train": 0, "test": 1}  # the two splits draw from different random streams of the same seed
CASES = ("both", "upper", "lower")
BOX_FRACTION = 20 / 28  # glyphs are fitted into this part of the canvas, as MNIST digits are into 20 of 28 px
RENDER_PX = 128  # font size of the cached master renders, before fitting into the box

# Distortion ranges, drawn uniformly per sample.
ROTATION_DEG = 12.0
SHEAR = 0.25
SCALE = (0.8, 1.05)
ASPECT = 0.12  # relative difference between the horizontal and vertical scale
SHIFT = 0.07  # translation, as a fraction of the canvas side
STROKES = (0, 0, 1, 2)  # dilate by 0, 1 or 2 steps (a step ~ 1/56 of the canvas): thin fonts get bolder
CHUNK = 2048  # samples transformed per vectorised stroke / downsampling pass


def font_dir() -> Path:
    """matplotlib's folder of bundled TrueType fonts."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def resolve_fonts(fonts: Sequence[str] | str | None) -> tuple[Path, ...]:
    """Font files from names in matplotlib's font folder or paths; a string may list them comma-separated."""
    if fonts is None:
        fonts = DEFAULT_FONTS
    elif isinstance(fonts, str):
        fonts = [f.strip() for f in fonts.split(",") if f.strip()]
    if not fonts:
        raise DataError("glyphs needs at least one font")
    folder = font_dir()
    paths = []
    for name in fonts:
        path = Path(name).expanduser() if Path(name).expanduser().is_file() else folder / name
        if not path.is_file():
            available = ", ".join(sorted(p.name for p in folder.glob("*.ttf")))
            raise DataError(f"glyphs: font '{name}' not found (a path, or one of {available})")
        paths.append(path)
    return tuple(paths)


def class_names(include_digits: bool) -> tuple[str, ...]:
    return tuple(string.ascii_uppercase) + (tuple(string.digits) if include_digits else ())


@lru_cache(maxsize=8192)
def master_glyph(font: Path, char: str, canvas: int, box: float = BOX_FRACTION) -> Image.Image:
    """``char`` in ``font``, white on black, fitted into the central ``box`` fraction of a ``canvas`` x ``canvas``
    'L' image."""
    try:
        face = ImageFont.truetype(str(font), RENDER_PX)
    except OSError as err:
        raise DataError(f"{font}: not a usable TrueType font ({err})") from None
    left, top, right, bottom = face.getbbox(char)
    big = Image.new("L", (right - left + 4, bottom - top + 4), 0)
    ImageDraw.Draw(big).text((2 - left, 2 - top), char, fill=255, font=face)
    bbox = big.getbbox()
    if bbox is None:
        raise DataError(f"{font}: has no visible glyph for {char!r}; choose another font")
    big = big.crop(bbox)
    factor = box * canvas / max(big.size)
    w, h = max(1, round(big.width * factor)), max(1, round(big.height * factor))
    small = big.resize((w, h), Image.Resampling.LANCZOS)
    out = Image.new("L", (canvas, canvas), 0)
    out.paste(small, ((canvas - w) // 2, (canvas - h) // 2))
    return out


def affine_coefficients(angle: np.ndarray, shear: np.ndarray, scale: np.ndarray, aspect: np.ndarray,
                        shift: np.ndarray, canvas: int) -> np.ndarray:
    """Pillow AFFINE coefficients (n, 6), mapping output to input pixels, of per-sample maps that scale
    (x by scale*(1+aspect), y by scale*(1-aspect)), shear along x, rotate by ``angle`` radians about the canvas
    centre and then shift by ``shift`` (n, 2) pixels. All other arguments are (n,) arrays."""
    c, s = np.cos(angle), np.sin(angle)
    sx, sy = scale * (1 + aspect), scale * (1 - aspect)
    # forward = rotation @ [[1, shear], [0, 1]] @ diag(sx, sy) = [[a, b], [d, e]], inverted in closed form
    # (plain float arithmetic, so the coefficients are bit-identical on every machine)
    a, b = c * sx, (c * shear - s) * sy
    d, e = s * sx, (s * shear + c) * sy
    det = a * e - b * d
    ia, ib, id_, ie = e / det, -b / det, -d / det, a / det
    centre = canvas / 2
    tx, ty = centre + shift[:, 0], centre + shift[:, 1]
    return np.stack([ia, ib, centre - (ia * tx + ib * ty), id_, ie, centre - (id_ * tx + ie * ty)], axis=1)


def _dilate(images: np.ndarray, radius: int) -> np.ndarray:
    """Grey-level dilation of (n, H, W) by a square of side 2*radius+1, separably along each axis."""
    for axis in (1, 2):
        padded = np.pad(images, [(0, 0)] + [(radius, radius) if a == axis else (0, 0) for a in (1, 2)])
        length = images.shape[axis]
        result = padded.take(np.arange(0, length), axis=axis)
        for k in range(1, 2 * radius + 1):
            result = np.maximum(result, padded.take(np.arange(k, k + length), axis=axis))
        images = result
    return images


def render_glyphs(count: int, size: int = 28, seed: int = 0, *, include_digits: bool = False,
                  fonts: Sequence[str] | str | None = None, case: str = "both", stream: int = 0,
                  index: np.ndarray | None = None, box: float = BOX_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    """Render ``count`` distorted glyphs; returns (images uint8 (n, size, size), labels int64 (n,)).

    Classes are balanced (count // classes each, the remainder spread) and shuffled. Every random draw for all
    ``count`` samples is made up front, so ``index`` (a subset of range(count)) renders exactly those samples
    of the full set, cheaply. ``stream`` separates independent sets made from one seed (train / test). ``box``:
    the fraction of the side the undistorted glyph fills (MNIST's 20/28; scikit-learn's digits fill their 8x8).
    """
    if count < 1 or size < 8:
        raise DataError(f"glyphs needs count >= 1 and size >= 8, got count={count}, size={size}")
    if case not in CASES:
        raise DataError(f"glyphs case must be one of {', '.join(CASES)}, got {case!r}")
    if not 0.25 <= box <= 1.0:
        raise DataError(f"glyphs box must be a fraction of the side in [0.25, 1], got {box}")
    paths = resolve_fonts(fonts)
    names = class_names(include_digits)
    canvas = 2 * size
    rng = np.random.default_rng([seed, stream])
    labels = rng.permutation(np.arange(count) % len(names)).astype(np.int64)
    lower = {"both": rng.random(count) < 0.5, "upper": np.zeros(count, bool), "lower": np.ones(count, bool)}[case]
    font_ids = rng.integers(len(paths), size=count)
    angles = np.deg2rad(rng.uniform(-ROTATION_DEG, ROTATION_DEG, count))
    coeffs = affine_coefficients(angles, rng.uniform(-SHEAR, SHEAR, count), rng.uniform(*SCALE, count),
                                 rng.uniform(-ASPECT, ASPECT, count), rng.uniform(-SHIFT, SHIFT, (count, 2)) * canvas,
                                 canvas)
    strokes = rng.choice(STROKES, size=count)
    index = np.arange(count) if index is None else np.asarray(index)
    step = max(1, round(canvas / 56))
    out = np.empty((len(index), size, size), dtype=np.uint8)
    for start in range(0, len(index), CHUNK):
        chunk = index[start:start + CHUNK]
        work = np.empty((len(chunk), canvas, canvas), dtype=np.uint8)
        for row, i in enumerate(chunk):
            char = names[labels[i]].lower() if lower[i] else names[labels[i]]
            master = master_glyph(paths[font_ids[i]], char, canvas, box)
            work[row] = np.asarray(master.transform((canvas, canvas), Image.Transform.AFFINE, tuple(coeffs[i]),
                                                    Image.Resampling.BILINEAR))
        for stroke in sorted(set(STROKES) - {0}):
            rows = np.flatnonzero(strokes[chunk] == stroke)
            if len(rows):
                work[rows] = _dilate(work[rows], step * int(stroke))
        # area-average 2x2 blocks down to size x size (Pillow's BOX filter, vectorised)
        blocks = work.reshape(len(chunk), size, 2, size, 2).sum(axis=(2, 4), dtype=np.uint16)
        out[start:start + len(chunk)] = ((blocks + 2) // 4).astype(np.uint8)
    return out, labels[index]


def load_glyphs(root: Path, split: str, count: int | None = None, size: int = 28, seed: int = 0,
                include_digits: bool = False, fonts: Sequence[str] | str | None = None, case: str = "both",
                limit: int | None = None, limit_seed: int = 0, box: float = BOX_FRACTION) -> LabelledImages:
    """The ``glyphs`` dataset (``root`` unused). count: images in the split (default 60,000 train, 10,000
    test); size: side in pixels; seed: rendering seed; include_digits: 36 classes instead of 26; fonts: names
    in matplotlib's font folder or paths (default: 16 DejaVu/STIX faces); case: 'both', 'upper' or 'lower'.
    limit: render only a seeded subset of the split (the same images the full split holds); box: the fraction of
    the side an undistorted glyph fills (default 20/28, as MNIST's digits)."""
    count = DEFAULT_COUNT[split] if count is None else count
    index = sample_indices(count, limit, limit_seed) if limit is not None else None
    images, labels = render_glyphs(count, size, seed, include_digits=include_digits, fonts=fonts, case=case,
                                   stream=SPLIT_STREAM[split], index=index, box=box)
    return checked("glyphs", "glyphs", images, labels, class_names(include_digits))
