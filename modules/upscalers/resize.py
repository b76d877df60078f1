"""Model upscaling of PIL images: passes until big enough, then an exact Lanczos resize."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from PIL import Image

from modules.upscalers.tiles import run_tiled

MAX_PASSES = 3


def target_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def tensor_to_pil(tensor: torch.Tensor) -> Image.Image:
    array = tensor.squeeze(0).clamp(0, 1).permute(1, 2, 0).mul(255).round().to(torch.uint8).numpy()
    return Image.fromarray(array, "RGB")


def model_pass(descriptor: Any, image: Image.Image, tile: int, overlap: int, device: torch.device,
               on_tile: Callable[[int, int], None] | None = None) -> Image.Image:
    """One pass of the model over the image, in tiles of `tile` pixels (0 = whole image)."""
    dtype = next(descriptor.model.parameters()).dtype

    def fn(piece: torch.Tensor) -> torch.Tensor:
        return descriptor(piece.to(device=device, dtype=dtype))

    with torch.inference_mode():
        out = run_tiled(fn, pil_to_tensor(image), int(descriptor.scale), tile, overlap, on_tile)
    return tensor_to_pil(out)


def run_model_upscale(descriptor: Any, image: Image.Image, size: tuple[int, int], tile: int, overlap: int,
                      device: torch.device, on_tile: Callable[[int, int], None] | None = None) -> Image.Image:
    """Upscale with the model until at least `size`, then resize to exactly `size`."""
    alpha = image.getchannel("A") if image.mode == "RGBA" else None
    current = image.convert("RGB")
    for _ in range(MAX_PASSES):
        if current.width >= size[0] and current.height >= size[1]:
            break
        bigger = model_pass(descriptor, current, tile, overlap, device, on_tile)
        if bigger.size == current.size:
            break
        current = bigger
    if current.size != size:
        current = current.resize(size, Image.LANCZOS)
    if alpha is not None:
        current.putalpha(alpha.resize(size, Image.LANCZOS))
    return current
