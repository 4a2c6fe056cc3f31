"""Data layer: readers of standard on-disk formats, named datasets, transforms. No torchvision."""

from dpldm.data import npz  # noqa: F401  (registers the named datasets)
from dpldm.data.images import LabelledImages
from dpldm.data.registry import REGISTRY, DataError, data_root, load_dataset
from dpldm.data.transforms import from_unit_range, prepare

__all__ = ["LabelledImages", "REGISTRY", "DataError", "data_root", "load_dataset", "prepare", "from_unit_range"]
