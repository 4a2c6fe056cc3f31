"""Image transforms on uint8 arrays, ending in a float tensor in [-1, 1]. No torchvision."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:  # torch is imported where tensors are made, so listing or reading datasets stays light
    import torch


def to_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """(N,H,W) or (N,H,W,3) uint8 -> (N,H,W,channels); RGB->gray uses ITU-R 601 luma as Pillow does."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if images.ndim == 3:
        images = images[..., None]
    have = images.shape[-1]
    if have == channels:
        return images
    if channels == 3:
        return np.repeat(images, 3, axis=-1)
    luma = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.clip(np.rint(luma), 0, 255).astype(np.uint8)[..., None]


def resize(images: np.ndarray, size: int) -> np.ndarray:
    """(N,H,W,C) uint8 -> (N,size,size,C), area-averaging when shrinking (Pillow BOX), bicubic when growing."""
    n, h, w, c = images.shape
    if (h, w) == (size, size):
        return images
    method = Image.BOX if size < min(h, w) else Image.BICUBIC
    out = np.empty((n, size, size, c), dtype=np.uint8)
    for i in range(n):
        img = Image.fromarray(images[i, ..., 0] if c == 1 else images[i])
        arr = np.asarray(img.resize((size, size), method))
        out[i] = arr[..., None] if c == 1 else arr
    return out


def to_shape(images: np.ndarray, size: int, channels: int) -> np.ndarray:
    """uint8 (N,H,W) | (N,H,W,3) -> uint8 (N,size,size) for channels 1, (N,size,size,3) for 3, as ``prepare`` does."""
    out = resize(to_channels(images, channels), size)
    return out[..., 0] if channels == 1 else out


def center_crop(images: np.ndarray, size: int) -> np.ndarray:
    """(N,H,W,C) -> (N,size,size,C), the central square."""
    _, h, w, _ = images.shape
    if size > min(h, w):
        raise ValueError(f"cannot crop {h}x{w} images to {size}")
    top, left = (h - size) // 2, (w - size) // 2
    return images[:, top:top + size, left:left + size]


def pad(images: np.ndarray, size: int, value: int = 0) -> np.ndarray:
    """(N,H,W,C) -> (N,size,size,C), centred on a constant border."""
    _, h, w, _ = images.shape
    if size < max(h, w):
        raise ValueError(f"cannot pad {h}x{w} images to {size}")
    top, left = (size - h) // 2, (size - w) // 2
    return np.pad(images, ((0, 0), (top, size - h - top), (left, size - w - left), (0, 0)), constant_values=value)


def to_unit_range(images: np.ndarray) -> torch.Tensor:
    """(N,H,W,C) uint8 -> float32 tensor (N,C,H,W) in [-1, 1]."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0


def from_unit_range(x: torch.Tensor) -> np.ndarray:
    """float tensor (N,C,H,W) in [-1, 1] -> uint8 (N,H,W) for C=1, (N,H,W,3) for C=3."""
    import torch

    arr = ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return arr[..., 0] if arr.shape[-1] == 1 else arr


def prepare(images: np.ndarray, *, size: int, channels: int, fit: str = "resize") -> torch.Tensor:
    """uint8 images in any supported layout -> float32 (N, channels, size, size) in [-1, 1].

    fit: 'resize' (squash/shrink to size), 'crop' (centre-crop the largest square, then resize) or 'pad'.
    """
    x = to_channels(images, channels)
    if fit == "crop":
        x = center_crop(x, min(x.shape[1:3]))
    elif fit == "pad":
        x = pad(x, max(x.shape[1:3]))
    elif fit != "resize":
        raise ValueError(f"fit must be resize, crop or pad, got {fit!r}")
    return to_unit_range(resize(x, size))
