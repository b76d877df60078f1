"""Fit an img2img input picture to the processing size, with A1111's four resize modes.

Why its own module: the same fitting is applied to init images, to masks (so that both stay
aligned) and to the generated crop pasted back by "Only masked" inpainting. The modes are
A1111's: 0 "Just resize" (stretch), 1 "Crop and resize" (cover, then centre-crop),
2 "Resize and fill" (contain, then fill the borders by stretching the edge pixels outwards),
3 "Just resize (latent upscale)" (the picture is encoded at its own size and the *latent* is
stretched; at the pixel level, for masks and overlays, it behaves as "Just resize").
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageColor

from modules.engine.request import RESIZE_MODES

JUST_RESIZE, CROP_AND_RESIZE, RESIZE_AND_FILL, LATENT_UPSCALE = range(4)
# Inputs larger than this (pixels) are shrunk first: nothing the engine does needs more, and a
# 100-megapixel upload would otherwise cost gigabytes in the filters below.
MAX_INPUT_PIXELS = 4096 * 4096
RESAMPLE = Image.Resampling.LANCZOS  # what A1111 uses when no upscaler is configured


def check_resize_mode(mode: int) -> int:
    """The mode as an int, or a ValueError that lists the valid ones."""
    if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode < len(RESIZE_MODES):
        names = ", ".join(f"{i} ({name})" for i, name in enumerate(RESIZE_MODES))
        raise ValueError(f"resize_mode must be one of {names}; got {mode!r}")
    return mode


def flatten_image(image: Image.Image, background: str = "#ffffff") -> Image.Image:
    """RGB version of any PIL image; transparent parts become `background` (A1111's
    `img2img_background_color`), so an RGBA logo does not turn black where it is see-through."""
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa") or "transparency" in image.info
    if not has_alpha:
        return image.convert("RGB")
    try:
        colour = ImageColor.getrgb(background)[:3]
    except ValueError as e:
        raise ValueError(f"img2img_background_color {background!r} is not a colour; use e.g. #ffffff") from e
    base = Image.new("RGBA", image.size, (*colour, 255))
    base.alpha_composite(image.convert("RGBA"))
    return base.convert("RGB")


def limit_pixels(image: Image.Image, max_pixels: int = MAX_INPUT_PIXELS) -> Image.Image:
    """Shrink (keeping the aspect ratio) an image with more than `max_pixels` pixels."""
    area = image.width * image.height
    if area <= max_pixels:
        return image
    scale = (max_pixels / area) ** 0.5
    size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
    return image.resize(size, RESAMPLE)


def _scaled(image: Image.Image, width: int, height: int) -> Image.Image:
    return image.resize((max(1, width), max(1, height)), RESAMPLE)


def _cover_size(image: Image.Image, width: int, height: int) -> tuple[int, int]:
    """The size that covers width×height while keeping the image's aspect ratio."""
    if width / height > image.width / image.height:
        return width, image.height * width // image.width
    return image.width * height // image.height, height


def _contain_size(image: Image.Image, width: int, height: int) -> tuple[int, int]:
    """The size that fits inside width×height while keeping the image's aspect ratio."""
    if width / height < image.width / image.height:
        return width, image.height * width // image.width
    return image.width * height // image.height, height


def crop_and_resize(image: Image.Image, width: int, height: int) -> Image.Image:
    """Scale to cover the target, then cut the overflow equally from both sides."""
    w, h = _cover_size(image, width, height)
    scaled = _scaled(image, w, h)
    left, top = w // 2 - width // 2, h // 2 - height // 2
    return scaled.crop((left, top, left + width, top + height))


def resize_and_fill(image: Image.Image, width: int, height: int) -> Image.Image:
    """Scale to fit inside the target, centre it, and extend its edge rows/columns outwards."""
    w, h = _contain_size(image, width, height)
    w, h = min(max(w, 1), width), min(max(h, 1), height)
    arr = np.asarray(_scaled(image, w, h))
    left, top = width // 2 - w // 2, height // 2 - h // 2
    pad = [(top, height - h - top), (left, width - w - left)] + [(0, 0)] * (arr.ndim - 2)
    return Image.fromarray(np.pad(arr, pad, mode="edge"), mode=image.mode)


def resize_image(mode: int, image: Image.Image, width: int, height: int) -> Image.Image:
    """`image` fitted to exactly width×height with resize mode `mode` (0..3, see module doc)."""
    mode = check_resize_mode(mode)
    if image.size == (width, height):
        return image.copy()
    if mode == CROP_AND_RESIZE:
        return crop_and_resize(image, width, height)
    if mode == RESIZE_AND_FILL:
        return resize_and_fill(image, width, height)
    return _scaled(image, width, height)
