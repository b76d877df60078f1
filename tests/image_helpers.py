"""Pictures the image tests feed the engine: seeded noise (detail for the VAE to keep or lose, and
the same every run) and rectangular masks."""

from __future__ import annotations

import numpy as np
from PIL import Image


def noise_image(width: int = 64, height: int = 64, seed: int = 0) -> Image.Image:
    """An RGB picture of uniform noise, the same for the same seed."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def box_mask(size: tuple[int, int] = (64, 64), box: tuple[int, int, int, int] = (16, 16, 48, 48)) -> Image.Image:
    """An "L" mask, white (repaint) inside `box`, black elsewhere."""
    mask = Image.new("L", size, 0)
    mask.paste(255, box)
    return mask
