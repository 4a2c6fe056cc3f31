"""Models: the autoencoder, the latent UNet and its conditioning. Nothing here knows about DP or data loading."""

from dpldm.models.autoencoder import AutoencoderConfig, build_autoencoder
from dpldm.models.conditioning import ClassEmbedder, ConditioningConfig, TextConditioner, TextProjector
from dpldm.models.text_encoder import TextEncoder
from dpldm.models.denoiser import LatentDenoiser
from dpldm.models.unet import UNetConfig, build_unet, transformer_blocks

__all__ = ["AutoencoderConfig", "build_autoencoder", "ClassEmbedder", "ConditioningConfig", "TextConditioner",
           "TextEncoder", "TextProjector", "LatentDenoiser",
           "UNetConfig", "build_unet", "transformer_blocks"]
