"""Encode a dataset once with the frozen autoencoder and cache the latents on disk.

The autoencoder is frozen in every later stage, so z = E(x) is a fixed per-image function: computing it once
and reusing it changes nothing but the cost.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from tqdm import tqdm

from dpldm.models.autoencoder import encode_mean


def module_digest(module: torch.nn.Module) -> str:
    """sha256 of a module's weights, so a cache made with other weights is never reused."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def cache_key(**facts) -> str:
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:16]


@torch.no_grad()
def encode_dataset(vae, x: torch.Tensor, *, batch_size: int = 256, progress: bool = True) -> torch.Tensor:
    """Images (N, C, H, W) in [-1, 1] -> unscaled posterior means (N, c, h, w), each image encoded on its own
    (no batch statistics: the encoder has only GroupNorm, which normalises within one image)."""
    vae.eval()
    out = []
    for i in tqdm(range(0, len(x), batch_size), disable=not progress, desc="encode", unit="batch"):
        out.append(encode_mean(vae, x[i:i + batch_size]))
    return torch.cat(out) if out else torch.zeros(0)


def cached_latents(path: Path, key: str, vae, x: torch.Tensor, *, progress: bool = True) -> torch.Tensor:
    """Latents of x from ``path`` if it holds the same ``key``, else encode and write them.

    The cache is only ever a copy: a file that cannot be read (truncated, say) or that holds NaN is encoded anew
    and replaced, with a warning, never an error.
    """
    if path.is_file():
        try:
            with safe_open(str(path), framework="pt") as f:
                if (f.metadata() or {}).get("key") == key:
                    z = f.get_tensor("latents")
                    if bool(torch.isfinite(z).all()):
                        return z
                    raise ValueError("non-finite latents")
        except Exception as err:  # SafetensorError, OSError, ValueError ...: any damage means "encode again"
            warnings.warn(f"{path}: latent cache unreadable ({type(err).__name__}); encoding the images again")
    # Contiguous, as the copy read back from the file is, so a run sees the same tensor whether the cache was hit
    # or not (the encoder's output can carry channels-last strides; the DP engine's select_rows says why it matters).
    z = encode_dataset(vae, x, progress=progress).contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file({"latents": z}, str(tmp), metadata={"key": key})
    tmp.replace(path)
    return z
