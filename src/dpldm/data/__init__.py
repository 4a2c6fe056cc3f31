"""Data layer: readers of standard on-disk formats, named datasets, splits, fingerprints, transforms. No torchvision.

Entry points: ``load_dataset(name, split, root=..., **options)`` -> ``LabelledImages`` (uint8 pixels + labels),
``prepare(images, size=, channels=, fit=)`` -> float tensor in [-1, 1], ``DataConfig`` + ``load_images`` for
config-driven stages, ``fingerprint`` (content hashes) to keep public and private data apart.
"""

from dpldm.data import catalog, download  # noqa: F401  (register the named datasets and the download table)
from dpldm.data.checks import DataError
from dpldm.data.config import DataConfig, load_images, to_model_input
from dpldm.data.images import LabelledImages
from dpldm.data.registry import DOWNLOADABLE, REGISTRY, DatasetSpec, Layout, data_root, load_dataset, register
from dpldm.data.splits import sample_indices, split_indices, train_val_split
from dpldm.data.transforms import from_unit_range, prepare

__all__ = [
    "DOWNLOADABLE", "DataConfig", "DataError", "DatasetSpec", "LabelledImages", "Layout", "REGISTRY", "data_root",
    "from_unit_range", "load_dataset", "load_images", "prepare", "register", "sample_indices", "split_indices",
    "to_model_input", "train_val_split",
]
