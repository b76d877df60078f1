"""Latents to pictures and back through the VAE."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from PIL import Image

from modules.models.sd_model import LoadedModel
from modules.vae_tiling import codec

log = logging.getLogger(__name__)


def decode_latents(model: LoadedModel, latents: torch.Tensor,
                   settings: Mapping[str, Any] | None = None) -> torch.Tensor:
    """VAE-decode (B, C, h, w) latents to (B, 3, H, W) in [-1, 1] (float32, CPU).

    Large images (and any that run out of memory) decode in tiles, as the `tiled_vae` setting says.
    A half-precision VAE that overflows gives NaNs (A1111's black pictures): the VAE is then
    converted to float32 for good (logged once per model) and the decode repeated.
    """
    out = codec.decode(model.vae, latents / model.vae_scaling_factor, settings)
    if torch.isnan(out).any() and next(model.vae.parameters()).dtype != torch.float32:
        log.warning("The VAE produced NaNs in half precision; it now runs in float32 (use --no-half-vae "
                    "to start that way)")
        model.vae = model.vae.float()
        model.extra["vae_upcast"] = True
        out = codec.decode(model.vae, latents / model.vae_scaling_factor, settings)
    if torch.isnan(out).any():
        raise FloatingPointError("the VAE produced NaNs even in float32; the latents or the VAE file are broken")
    return out.float().cpu()


def encode_images(model: LoadedModel, images: torch.Tensor, generator: torch.Generator | None = None,
                  sample: bool = False, settings: Mapping[str, Any] | None = None) -> torch.Tensor:
    """VAE-encode (B, 3, H, W) images in [-1, 1] to scaled latents (mode unless `sample`); tiled like decoding."""
    return codec.encode(model.vae, images, settings, generator, sample) * model.vae_scaling_factor


def to_pil(images: torch.Tensor) -> list[Image.Image]:
    """(B, 3, H, W) in [-1, 1] to 8-bit RGB images; truncates 255*x after clamping, as A1111 does."""
    return pil_from_unit((images + 1.0) / 2.0)


def pil_from_unit(images: torch.Tensor) -> list[Image.Image]:
    """(B, 3, H, W) in [0, 1] (A1111's decoded batch) to 8-bit RGB images, truncating 255*x."""
    arr = (images.clamp(0, 1) * 255.0).to(torch.uint8)
    return [Image.fromarray(np.ascontiguousarray(a.permute(1, 2, 0).numpy())) for a in arr]


def from_pil(images: list[Image.Image]) -> torch.Tensor:
    """RGB images to (B, 3, H, W) in [-1, 1]."""
    arrs = [np.asarray(im.convert("RGB"), dtype=np.float32) / 127.5 - 1.0 for im in images]
    return torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).contiguous()
