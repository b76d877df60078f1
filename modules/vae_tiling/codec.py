"""VAE decode/encode whole or in overlapping tiles, chosen by the TilePlan.

Tiles overlap and are cross-faded (modules/upscalers/tiles.py), so no seam line shows; each tile
still normalises its own activations, which can shift colours slightly between distant tiles;
the measured difference to a whole-image decode is in the README. The encoder's tiles blend the
distribution parameters (mean and log-variance), and the caller then takes the mode or a sample.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F

from modules.upscalers.tiles import run_tiled
from modules.vae_tiling.norm_stats import shared_group_norm
from modules.vae_tiling.policy import LATENT_CELL, TilePlan, is_out_of_memory

log = logging.getLogger(__name__)


def _with_plan(plan: TilePlan, pixels: int, whole: Callable[[], torch.Tensor],
               tiled: Callable[[], torch.Tensor], what: str) -> torch.Tensor:
    if plan.tiles_first(pixels):
        return tiled()
    try:
        return whole()
    except Exception as err:  # noqa: BLE001 - only memory errors are retried, others re-raised
        if not (plan.retry_on_oom and is_out_of_memory(err)):
            raise
        log.warning("VAE %s ran out of memory; retrying in tiles", what)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return tiled()


def _preview_size(shape: torch.Size, tile: int, cell: int) -> tuple[int, int]:
    """A size (multiple of `cell`) whose grid fits in one tile, keeping the aspect ratio."""
    h, w = shape[-2] // cell, shape[-1] // cell
    factor = min(1.0, tile / max(h, w))
    return max(1, round(h * factor)) * cell, max(1, round(w * factor)) * cell


def tiled_with_shared_norms(vae: Any, fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, scale: int,
                            plan: TilePlan, cell: int = 1) -> torch.Tensor:
    """Run `fn` in tiles after a low-resolution pass of the whole input recorded GroupNorm statistics."""
    if x.shape[-2] // cell <= plan.tile and x.shape[-1] // cell <= plan.tile:
        return fn(x).float().cpu()  # one tile: its own statistics are the whole picture's
    with shared_group_norm(vae) as state:
        small = F.interpolate(x, size=_preview_size(x.shape, plan.tile, cell), mode="area")
        fn(small)
        state["mode"] = "apply"
        return run_tiled(fn, x, scale, plan.tile, plan.overlap, cell=cell)


def decode(vae: Any, latents: torch.Tensor, settings: Mapping[str, Any] | None = None) -> torch.Tensor:
    """(B, C, h, w) unscaled latents to (B, 3, 8h, 8w) pixels in [-1, 1], float32 on the CPU."""
    plan = TilePlan.from_settings(settings)
    param = next(vae.parameters())

    def fn(piece: torch.Tensor) -> torch.Tensor:
        return vae.decode(piece.to(param), return_dict=False)[0]

    pixels = latents.shape[-2] * latents.shape[-1] * LATENT_CELL * LATENT_CELL
    with torch.no_grad():
        return _with_plan(plan, pixels, lambda: fn(latents).float().cpu(),
                          lambda: tiled_with_shared_norms(vae, fn, latents, LATENT_CELL, plan), "decode")


def encode_parameters(vae: Any, images: torch.Tensor, settings: Mapping[str, Any] | None = None) -> torch.Tensor:
    """(B, 3, H, W) images in [-1, 1] to the latent distribution's parameters (mean ++ logvar), float32."""
    plan = TilePlan.from_settings(settings)
    param = next(vae.parameters())

    def fn(piece: torch.Tensor) -> torch.Tensor:
        return vae.encode(piece.to(param)).latent_dist.parameters

    pixels = images.shape[-2] * images.shape[-1]
    with torch.no_grad():
        return _with_plan(plan, pixels, lambda: fn(images).float(),
                          lambda: tiled_with_shared_norms(vae, fn, images, 1, plan, LATENT_CELL).to(param.device),
                          "encode")


def encode(vae: Any, images: torch.Tensor, settings: Mapping[str, Any] | None = None,
           generator: torch.Generator | None = None, sample: bool = False) -> torch.Tensor:
    """Unscaled latents of images: the distribution's mode, or a sample with `generator`."""
    from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

    dist = DiagonalGaussianDistribution(encode_parameters(vae, images, settings))
    return (dist.sample(generator) if sample else dist.mode()).float()
