"""The report's figures as PNG bytes: a sample grid with one row per class, and step curves. Headless (Agg)."""

from __future__ import annotations

import io

import numpy as np


def _figure_png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def class_grid(images: np.ndarray, labels: np.ndarray | None, per_class: int) -> tuple[np.ndarray, list[str]]:
    """Tile up to ``per_class`` images of each class in one row -> (uint8 (rows*H, per_class*W[, 3]), row names).

    Without labels: rows of ``per_class`` images in order, at most 10 rows.
    """
    h, w = images.shape[1:3]
    if labels is None:
        rows = [np.arange(i, min(i + per_class, len(images))) for i in range(0, min(len(images), 10 * per_class),
                                                                             per_class)]
        names = [f"{r[0]}..{r[-1]}" for r in rows]
    else:
        classes = np.unique(labels)
        rows = [np.flatnonzero(labels == c)[:per_class] for c in classes]
        names = [f"class {c}" for c in classes]
    canvas = np.full((len(rows) * h, per_class * w, *images.shape[3:]), 255, dtype=np.uint8)
    for r, index in enumerate(rows):
        for c, i in enumerate(index):
            canvas[r * h:(r + 1) * h, c * w:(c + 1) * w] = images[i]
    return canvas, names


def sample_grid_png(images: np.ndarray, labels: np.ndarray | None, per_class: int = 10) -> bytes:
    """uint8 (N, H, W) | (N, H, W, 3) images -> PNG of the class grid, rows labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    canvas, names = class_grid(images, labels, per_class)
    h = images.shape[1]
    fig, ax = plt.subplots(figsize=(per_class * 0.6 + 1.2, len(names) * 0.6 + 0.3))
    ax.imshow(canvas, cmap="gray" if canvas.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest")
    ax.set_yticks([(r + 0.5) * h for r in range(len(names))], names, fontsize=8)
    ax.set_xticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    return _figure_png(fig)


def curve_png(steps: np.ndarray, values: np.ndarray, *, ylabel: str, title: str, log_y: bool = False) -> bytes:
    """(K,) steps and values -> PNG of a line plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(steps, values, lw=1.2)
    if log_y and (values > 0).all():
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    return _figure_png(fig)
