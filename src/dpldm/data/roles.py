"""Public and private data are distinct types, so the code cannot mix them by accident.

DP-LDM pretrains on *public* data (no privacy cost) and fine-tunes with DP-SGD on *private* data; the privacy
guarantee only covers the private set, and only if no private image leaks into the public side. So:

* ``PublicData`` and ``PrivateData`` are frozen wrappers around ``LabelledImages``; a stage declares which one it
  takes, and a wrapper cannot be re-wrapped into the other role;
* ``combine`` (and ``+``) joins sets of one role only, and refuses to put a private set into a public one (or
  the reverse);
* ``check_separate`` refuses a public set that contains any image of the private set (the same dataset and
  split used twice, say).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import ClassVar, TypeVar

import numpy as np

from dpldm.data.checks import DataError
from dpldm.data.images import LabelledImages, concatenate
from dpldm.data.splits import train_val_split

R = TypeVar("R", bound="RoleData")


class RoleError(DataError):
    """An attempt to mix public and private data."""


@dataclass(frozen=True)
class RoleData:
    """A labelled set with a fixed role; use ``PublicData`` or ``PrivateData``."""

    data: LabelledImages
    role: ClassVar[str] = ""

    def __post_init__(self) -> None:
        if type(self) is RoleData:
            raise TypeError("use PublicData or PrivateData, not RoleData")
        if isinstance(self.data, RoleData):
            raise RoleError(f"'{self.data.data.name}' is already {self.data.role} data; a set keeps the role it "
                            f"was given and cannot be re-wrapped as {self.role}")
        if not isinstance(self.data, LabelledImages):
            raise TypeError(f"{type(self).__name__} wraps LabelledImages, got {type(self.data).__name__}")

    def __len__(self) -> int:
        return len(self.data)

    def __add__(self: R, other: RoleData) -> R:
        return combine(self, other)

    @property
    def name(self) -> str:
        return self.data.name

    def subset(self: R, index: np.ndarray) -> R:
        """The same role, restricted to ``index``."""
        return type(self)(self.data.subset(index))

    def split(self: R, holdout: float | int, seed: int, stratify: bool = True) -> tuple[R, R]:
        """Seeded (train, validation) split that keeps the role; see ``dpldm.data.splits.split_indices``."""
        train, val = train_val_split(self.data, holdout, seed, stratify)
        return type(self)(train), type(self)(val)


@dataclass(frozen=True)
class PublicData(RoleData):
    """Data with no privacy claim, free to use for pretraining (e.g. Omniglot, glyphs, Tiny ImageNet)."""

    role: ClassVar[str] = "public"


@dataclass(frozen=True)
class PrivateData(RoleData):
    """Data under differential privacy: only DP mechanisms may touch it (e.g. MNIST for DP fine-tuning)."""

    role: ClassVar[str] = "private"


def combine(*parts: R, name: str | None = None) -> R:
    """Concatenate sets of one role (``dpldm.data.images.concatenate``); mixing roles raises RoleError."""
    if not parts:
        raise ValueError("nothing to combine")
    kind = type(parts[0])
    for part in parts:
        if not isinstance(part, RoleData):
            raise RoleError(f"cannot combine {kind.role} data with a {type(part).__name__} of no declared role; "
                            f"wrap it as PublicData or PrivateData first")
        if type(part) is not kind:
            raise RoleError(f"refusing to mix {part.role} data '{part.name}' into {kind.role} data "
                            f"'{parts[0].name}': public and private sets must stay separate")
    return kind(concatenate([p.data for p in parts], name))


def _image_hashes(data: LabelledImages) -> set[bytes]:
    return {hashlib.blake2b(image.tobytes(), digest_size=16).digest() for image in data.images}


def check_separate(public: PublicData, private: PrivateData) -> None:
    """Raise RoleError unless ``public`` is public, ``private`` is private and no image appears in both."""
    if not isinstance(public, PublicData) or not isinstance(private, PrivateData):
        raise RoleError(f"check_separate takes (PublicData, PrivateData), got "
                        f"({type(public).__name__}, {type(private).__name__})")
    if public.data.images.shape[1:] != private.data.images.shape[1:]:
        return
    shared = _image_hashes(public.data) & _image_hashes(private.data)
    if shared:
        raise RoleError(f"public data '{public.name}' contains {len(shared)} images of private data "
                        f"'{private.name}'; use a different public set (or split) so nothing private is pretrained on")
