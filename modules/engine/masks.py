"""Inpainting masks: reading, blurring, the "Only masked" crop, masked-content fill, compositing.

Conventions (A1111's): a mask is an 8-bit "L" image where white (255) means "repaint here".
The *overlay mask* decides the final composite: output = original where it is 0, byte for
byte, and the generated picture where it is 255, so everything outside the blurred mask is
guaranteed untouched however lossy the VAE is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from modules.engine.resize import crop_and_resize

Box = tuple[int, int, int, int]  # left, top, right (exclusive), bottom (exclusive)
# Blur radii (largest first) for the "fill" masked content: the wide passes bring in the
# overall surrounding colour, the narrow ones the colour right at the edge of the hole.
FILL_RADII = (256, 64, 16, 4, 2)


def read_mask(mask: Image.Image, size: tuple[int, int], invert: bool = False) -> Image.Image:
    """The request's mask as "L" at `size` (the image's size).

    An RGBA mask whose alpha is not fully opaque is read from its alpha channel, binarised at
    128 (what a brush layer exported by a browser editor looks like); anything else is read as
    grey levels. A mask of another size than its image is stretched to it, so the two align.
    """
    if mask.mode == "RGBA" and mask.getextrema()[3] != (255, 255):
        grey = mask.getchannel("A").point(lambda v: 255 if v > 128 else 0)
    else:
        grey = mask.convert("L")
    if grey.size != size:
        grey = grey.resize(size, Image.Resampling.BILINEAR)
    if invert:
        grey = grey.point(lambda v: 255 - v)
    return grey


def _kernel_size(sigma: float) -> int:
    return 2 * int(2.5 * sigma + 0.5) + 1


def blur_mask(mask: Image.Image, blur_x: float, blur_y: float) -> Image.Image:
    """Gaussian blur along x and y separately (A1111's kernel: 2·round(2.5σ)+1 taps)."""
    import cv2

    arr = np.asarray(mask, dtype=np.uint8)
    if blur_x > 0:
        arr = cv2.GaussianBlur(arr, (_kernel_size(blur_x), 1), blur_x)
    if blur_y > 0:
        arr = cv2.GaussianBlur(arr, (1, _kernel_size(blur_y)), blur_y)
    return Image.fromarray(np.ascontiguousarray(arr), mode="L")


def is_empty(mask: Image.Image) -> bool:
    """True when the mask selects nothing (all black)."""
    return mask.getbbox() is None


def crop_region(mask: Image.Image, padding: int) -> Box | None:
    """Bounding box of the mask's non-black pixels grown by `padding`, clipped to the image."""
    box = mask.getbbox()
    if box is None:
        return None
    x1, y1, x2, y2 = box
    w, h = mask.size
    return max(x1 - padding, 0), max(y1 - padding, 0), min(x2 + padding, w), min(y2 + padding, h)


def _grow(lo: int, hi: int, want: int, limit: int) -> tuple[int, int]:
    """Widen [lo, hi) to `want` pixels around its centre, shifted to stay inside [0, limit)."""
    extra = want - (hi - lo)
    lo, hi = lo - extra // 2, hi + extra - extra // 2
    if hi > limit:
        lo, hi = lo - (hi - limit), limit
    if lo < 0:
        lo, hi = 0, min(hi - lo, limit)
    return lo, hi


def expand_to_aspect(region: Box, width: int, height: int, image_w: int, image_h: int) -> Box:
    """Grow the crop region along its short side to the processing aspect ratio (width/height),
    so the crop is not distorted when it is scaled to the processing size."""
    x1, y1, x2, y2 = region
    if (x2 - x1) / (y2 - y1) > width / height:
        y1, y2 = _grow(y1, y2, int((x2 - x1) * height / width), image_h)
    else:
        x1, x2 = _grow(x1, x2, int((y2 - y1) * width / height), image_w)
    return x1, y1, x2, y2


def fill_masked(image: Image.Image, mask: Image.Image) -> Image.Image:
    """"fill" masked content: replace the masked area by blurred colours of its surroundings.

    Normalised convolution: blur (pixels × known) and (known) at several radii; their ratio is
    the average colour of the known pixels nearby. Narrower passes overwrite wider ones where
    they have data, so colours follow the edge of the hole and fade to the global average.
    """
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    known = 1.0 - np.asarray(mask, dtype=np.float32)[..., None] / 255.0
    filled = np.broadcast_to(_weighted_mean(rgb, known), rgb.shape).copy()
    for radius in FILL_RADII:
        colour, weight = _blurred_mean(rgb, known, radius)
        filled = filled * (1.0 - weight) + colour * weight
    out = rgb * known + filled * (1.0 - known)
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), mode="RGB")


def _weighted_mean(rgb: np.ndarray, weight: np.ndarray) -> np.ndarray:
    total = float(weight.sum())
    return (rgb * weight).sum(axis=(0, 1)) / total if total > 0 else np.full(3, 127.5, np.float32)


def _blur(arr: np.ndarray, radius: int) -> np.ndarray:
    """Approximate Gaussian blur of a float HxWxC array: three box blurs, whose cost does not
    grow with the radius (a true 256-px Gaussian would take seconds on a 512² picture)."""
    import cv2

    size = min(int((4 * radius * radius + 1) ** 0.5) | 1, 2 * max(arr.shape[:2]) - 1)
    out = np.ascontiguousarray(arr, dtype=np.float32)
    for _ in range(3):
        out = cv2.blur(out, (size, size), borderType=cv2.BORDER_REFLECT_101)
    return out.reshape(arr.shape)


def _blurred_mean(rgb: np.ndarray, known: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """(local mean colour of the known pixels, how much known data backs it: 0..1)."""
    num = _blur(np.concatenate([rgb * known, known], axis=-1), radius)
    den = num[..., 3:]
    colour = num[..., :3] / np.maximum(den, 1e-6)
    return colour, np.clip(den * 4.0, 0.0, 1.0)


def latent_mask(mask: Image.Image, latent_hw: tuple[int, int], round_mask: bool = True) -> torch.Tensor:
    """(1, 1, h, w) float mask at latent size, 1 = repaint; rounded to 0/1 as A1111's default
    `mask_round`, so the latent blend keeps or replaces whole latent pixels."""
    small = mask.resize((latent_hw[1], latent_hw[0]), Image.Resampling.BICUBIC)
    arr = torch.from_numpy(np.asarray(small, dtype=np.float32) / 255.0)
    if round_mask:
        arr = torch.round(arr)
    return arr[None, None]


def pixel_mask(mask: Image.Image, round_mask: bool = True) -> torch.Tensor:
    """(1, 1, H, W) float mask at pixel size, 1 = repaint (the inpainting models' input)."""
    arr = torch.from_numpy(np.asarray(mask, dtype=np.float32) / 255.0)
    return (torch.round(arr) if round_mask else arr)[None, None]


def doubled(mask: Image.Image) -> Image.Image:
    """A1111's "whole picture" overlay mask: the blurred mask ×2, so the generated picture
    shows fully from the blur's midpoint inwards and the seam stays in the blurred band."""
    return mask.point(lambda v: min(255, v * 2))


@dataclass(frozen=True)
class Overlay:
    """How to put a generated picture back over its original."""

    original: Image.Image  # RGB, the final picture's size
    mask: Image.Image  # L, same size; 0 = keep the original pixel exactly
    paste_box: Box | None = None  # where the generated crop goes ("Only masked"); None = whole picture


def composite(generated: Image.Image, overlay: Overlay) -> Image.Image:
    """The generated picture over the original, through the overlay mask (A1111's soft paste)."""
    original = np.asarray(overlay.original.convert("RGB"), dtype=np.float32)
    gen = generated.convert("RGB")
    if overlay.paste_box is not None:
        x1, y1, x2, y2 = overlay.paste_box
        canvas = original.copy()
        canvas[y1:y2, x1:x2] = np.asarray(crop_and_resize(gen, x2 - x1, y2 - y1), dtype=np.float32)
        gen_arr = canvas
    else:
        gen_arr = np.asarray(gen, dtype=np.float32)
    alpha = np.asarray(overlay.mask, dtype=np.float32)[..., None] / 255.0
    # Where alpha is 0 this is original * 1.0 + gen * 0.0: exact in float32, so kept bytes are identical.
    out = np.rint(original * (1.0 - alpha) + gen_arr * alpha)
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), mode="RGB")
