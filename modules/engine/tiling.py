"""Seamless tiling: circular padding on every convolution, as a patch set.

A1111 switches Conv2d padding to "circular" for the whole model; here that is a `PatchSet` of
attribute settings on the UNet's and the VAE's convolutions, applied inside each stage scope and
undone after it, so the cached model stays clean.
"""

from __future__ import annotations

import torch

from modules.models.patches import AttributeSet, PatchSet

TILING = "Tiling"


def tiling_patches(unet: torch.nn.Module, vae: torch.nn.Module) -> PatchSet:
    """Circular padding for every Conv2d of the UNet and the VAE."""
    attributes = tuple(
        AttributeSet(target, name, "padding_mode", "circular")
        for target, module in (("unet", unet), ("vae", vae))
        for name, layer in module.named_modules() if isinstance(layer, torch.nn.Conv2d))
    return PatchSet(TILING, attributes=attributes)
