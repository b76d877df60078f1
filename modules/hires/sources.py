"""Where the hires pass's start latent comes from: the first pass's latents stretched in latent
space (the "Latent" modes), or its picture upscaled by an upscaler and encoded again.

With "resize to" both sides, the upscaled result covers the box and its centre is cropped out.
The first-pass picture can also be saved on the way (setting save_images_before_highres_fix),
with its own infotext, through the job's saving path (`PassOutput.save_intermediate`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from modules.engine.decode import to_pil
from modules.engine.passes import PassOutput, PassSpec
from modules.hires.params import HiresTarget

SaveFirstPass = Callable[[PassOutput, torch.Tensor], None]  # (previous pass, its decoded pictures)


def _center_crop(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    top, left = (x.shape[-2] - height) // 2, (x.shape[-1] - width) // 2
    return x[..., top:top + height, left:left + width]


def latent_source(mode: str, antialias: bool, target: HiresTarget, f: int,
                  save_first: SaveFirstPass | None = None) -> Callable[[PassOutput, PassSpec], torch.Tensor]:
    def source(prev: PassOutput, spec: PassSpec) -> torch.Tensor:
        if save_first is not None:
            save_first(prev, prev.decode(prev.latents))
        size = (target.cover_height // f, target.cover_width // f)
        aa = antialias and mode in ("bilinear", "bicubic")
        up = F.interpolate(prev.latents.float(), size=size, mode=mode, antialias=aa).to(prev.latents.dtype)
        return _center_crop(up, spec.height // f, spec.width // f)

    return source


def image_source(upscale_picture: Callable[[Any, int, int], Any], target: HiresTarget,
                 save_first: SaveFirstPass | None = None) -> Callable[[PassOutput, PassSpec], torch.Tensor]:
    """Decode, upscale every picture with `upscale_picture(pil, width, height)`, crop, encode."""
    from modules.engine.decode import from_pil

    def source(prev: PassOutput, spec: PassSpec) -> torch.Tensor:
        images = prev.decode(prev.latents)
        if save_first is not None:
            save_first(prev, images)
        pictures = [upscale_picture(p, target.cover_width, target.cover_height) for p in to_pil(images.cpu())]
        batch = _center_crop(from_pil(pictures), spec.height, spec.width)
        return prev.encode(batch.to(images.device))

    return source
