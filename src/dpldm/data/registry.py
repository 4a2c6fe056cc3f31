"""Named datasets: which files make each one under the data root, and how ``load_dataset`` finds and reads them.

A dataset (``DatasetSpec``) has one or more on-disk *layouts* (``Layout``): e.g. MNIST as ``mnist.npz`` or as the
four official IDX files in ``mnist/``. ``load_dataset`` reads the first layout whose files are all present (or the
one named by ``source=``), after checking the split and the options, so every loader may assume its files exist.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from dpldm.data.checks import DataError
from dpldm.data.images import LabelledImages
from dpldm.data.npz import decode_jpeg_bytes, npz_array, open_npz  # npz helpers, imported from here by callers
from dpldm.data.splits import sample_indices

__all__ = ["DOWNLOADABLE", "REGISTRY", "DataError", "DatasetSpec", "Layout", "data_root", "dataset_status",
           "decode_jpeg_bytes", "load_dataset", "missing_error", "npz_array", "open_npz", "register"]


def data_root(root: str | os.PathLike | None = None) -> Path:
    """--data-root, else $DPLDM_DATA, else ./data."""
    return Path(root or os.environ.get("DPLDM_DATA") or "data")


Loader = Callable[..., LabelledImages]  # loader(root: Path, split: str, **options) -> LabelledImages


@dataclass(frozen=True)
class Layout:
    """One way a dataset can sit under the data root.

    source: short name of the layout ('npz', 'idx', 'python', 'folder' ...), selectable with ``source=``.
    files: glob patterns relative to the root that must all match something; () = nothing needed on disk.
    loader: ``loader(root, split, **options)``. A loader with a ``limit`` parameter (and ``limit_seed``) picks
        its own subset before decoding (for sets too large to decode whole); others are subsampled afterwards.
    """

    source: str
    files: tuple[str, ...]
    loader: Loader

    def present(self, root: Path) -> bool:
        return all(next(root.glob(pattern), None) is not None for pattern in self.files)

    def describe(self) -> str:
        return " + ".join(self.files) if self.files else "(nothing on disk)"


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset: its layouts in order of preference, its splits and a one-line description."""

    name: str
    description: str
    layouts: tuple[Layout, ...]
    splits: tuple[str, ...] = ("train", "test")
    user_data: bool = False  # True for the generic readers that need a ``path=`` option instead of the data root

    @property
    def needs_root(self) -> bool:
        return any(layout.files for layout in self.layouts)

    def find_layout(self, root: Path, source: str | None = None) -> Layout | None:
        """The first layout present under ``root`` (restricted to ``source`` if given), else None."""
        for layout in self.layouts:
            if (source is None or layout.source == source) and layout.present(root):
                return layout
        return None


REGISTRY: dict[str, DatasetSpec] = {}

# Names that ``--download`` can fetch (filled by dpldm.data.download from its table of official URLs).
DOWNLOADABLE: set[str] = set()


def register(spec: DatasetSpec) -> DatasetSpec:
    REGISTRY[spec.name] = spec
    return spec


def missing_error(spec: DatasetSpec, root: Path) -> DataError:
    """One line naming what was expected and where it was looked for."""
    expected = ", or ".join(layout.describe() for layout in spec.layouts if layout.files)
    hint = ", or pass --download" if spec.name in DOWNLOADABLE else ""
    return DataError(f"dataset '{spec.name}' not found: expected {expected} in {root.resolve()} "
                     f"(set --data-root or DPLDM_DATA{hint})")


def _takes_limit(spec: DatasetSpec, layout: Layout, options: dict[str, Any]) -> bool:
    """Refuse options the loader does not take; return whether the loader picks its own ``limit`` subset."""
    params = inspect.signature(layout.loader).parameters
    named = {n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {"root", "split"}
    user_options = named - {"limit", "limit_seed"}
    unknown = sorted(set(options) - user_options)
    if unknown:
        listed = ", ".join(sorted(user_options)) or "none"
        raise DataError(f"dataset '{spec.name}' ({layout.source}) has no option '{unknown[0]}'; options: {listed}")
    return "limit" in named


def load_dataset(name: str, split: str = "train", *, root: str | os.PathLike | None = None,
                 download: bool = False, limit: int | None = None, limit_seed: int = 0,
                 source: str | None = None, **options: Any) -> LabelledImages:
    """Read a named dataset's split as uint8 images + labels.

    limit: keep at most this many images, a seeded random subset (``limit_seed``) in the original order.
    source: force one layout ('npz', 'idx', 'python', ...) instead of the first present one.
    options: dataset-specific keyword options (see ``dpldm data list`` and each loader's docstring).
    """
    if name not in REGISTRY:
        raise DataError(f"unknown dataset '{name}'; known: {', '.join(sorted(REGISTRY))}")
    spec = REGISTRY[name]
    if split not in spec.splits:
        raise DataError(f"dataset '{name}' has no split '{split}'; splits: {', '.join(spec.splits)}")
    sources = list(dict.fromkeys(layout.source for layout in spec.layouts))
    if source is not None and source not in sources:
        raise DataError(f"dataset '{name}' has no source '{source}'; sources: {', '.join(sources)}")
    if limit is not None and limit < 1:
        raise DataError(f"limit must be a positive number of images, got {limit}")
    folder = data_root(root)
    if download and name in DOWNLOADABLE and spec.find_layout(folder, source) is None:
        from dpldm.data.download import ensure_downloaded

        ensure_downloaded(name, folder)
    layout = spec.find_layout(folder, source)
    if layout is None:
        raise missing_error(spec, folder)
    if _takes_limit(spec, layout, options):
        return layout.loader(folder, split, limit=limit, limit_seed=limit_seed, **options)
    data = layout.loader(folder, split, **options)
    if limit is not None and limit < len(data):
        data = data.subset(sample_indices(len(data), limit, limit_seed))
    return data


def dataset_status(spec: DatasetSpec, root: Path) -> str:
    """'present (npz)', 'missing', 'built-in' or 'user data (path=...)', for ``dpldm data list``."""
    if spec.user_data:
        return "user data (path=...)"
    if not spec.needs_root:
        return "built-in"
    layout = spec.find_layout(root)
    return f"present ({layout.source})" if layout else "missing"

