"""A pixel-level judge: does a picture show what a world caption asks for?

Why: the demo model's quality, and tests that generate with it, need a check of what a picture
means that needs no second model. The world is simple enough to read back with pixel statistics:

- background colour: the median of the border pixels (the shape never touches the border);
- shape pixels: those far from the background colour (first a fixed distance, then refined to
  "closer to the shape colour than to the background");
- shape colour: the median of the shape pixels, or of their inner core when there are enough;
- shape: fill ratio of the largest shape region within its bounding box: a square fills ~1.0,
  a circle π/4 ≈ 0.785, an upright triangle ~0.5. The region is cleaned of specks and holes, so
  blurry or noisy pictures measure like crisp ones.

Colours are classified to the nearest vocabulary colour (Euclidean sRGB distance).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from modules.training.world import COLOURS, parse_caption

BORDER = 2  # px read as background
MIN_SHAPE_DISTANCE = 60.0  # sRGB distance from the background that surely belongs to something else
SQUARE_MIN_FILL = 0.89
CIRCLE_MIN_FILL = 0.64
MIN_SHAPE_PIXELS = 12

_NAMES = list(COLOURS)
_PALETTE = np.array([COLOURS[n] for n in _NAMES], dtype=np.float32)


@dataclass(frozen=True)
class Verdict:
    """What the judge read from a picture (shape fields are "none" when no shape was found)."""

    background: str
    colour: str
    shape: str
    fill_ratio: float
    shape_pixels: int


@dataclass(frozen=True)
class Score:
    """A verdict compared with a caption."""

    verdict: Verdict
    background_ok: bool
    colour_ok: bool
    shape_ok: bool

    @property
    def all_ok(self) -> bool:
        return self.background_ok and self.colour_ok and self.shape_ok


def nearest_colour(rgb: np.ndarray) -> str:
    """The vocabulary colour nearest to one sRGB triple."""
    distances = np.linalg.norm(_PALETTE - np.asarray(rgb, dtype=np.float32)[None, :], axis=1)
    return _NAMES[int(np.argmin(distances))]


def _as_rgb_array(image: object) -> np.ndarray:
    array = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"The judge needs an RGB image (H, W, 3), got an array of shape {array.shape}.")
    if min(array.shape[:2]) < 4 * BORDER + 4:
        raise ValueError(f"The image {array.shape[:2]} is too small to judge; use at least 16×16 px.")
    return array.astype(np.float32)


def _border_pixels(img: np.ndarray) -> np.ndarray:
    b = BORDER
    parts = [img[:b], img[-b:], img[b:-b, :b], img[b:-b, -b:]]
    return np.concatenate([p.reshape(-1, 3) for p in parts])


def _largest_region(mask: np.ndarray) -> np.ndarray:
    labels, count = ndimage.label(mask)
    if count <= 1:
        return mask
    sizes = ndimage.sum(mask, labels, index=range(1, count + 1))
    return labels == (1 + int(np.argmax(sizes)))


def _fill_ratio(region: np.ndarray) -> float:
    ys, xs = np.nonzero(region)
    box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    return float(region.sum()) / float(box)


def shape_from_fill(fill: float) -> str:
    """Shape name from the bounding-box fill ratio (thresholds halfway between the ideal ratios)."""
    if fill >= SQUARE_MIN_FILL:
        return "square"
    return "circle" if fill >= CIRCLE_MIN_FILL else "triangle"


def _shape_region(img: np.ndarray, bg_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(shape region, shape colour), the region refined once the shape colour is known.

    A pixel belongs to the shape when it lies past halfway from the background colour towards the
    shape colour (its lightly smoothed "coverage" > 0.5); specks are opened away and holes filled,
    so noise and blur barely move the region's area or its bounding box.
    """
    dist_bg = np.linalg.norm(img - bg_rgb, axis=2)
    rough = _largest_region(dist_bg > MIN_SHAPE_DISTANCE)
    if rough.sum() < MIN_SHAPE_PIXELS:
        return rough, None
    rgb = np.median(img[rough], axis=0)
    axis = rgb - bg_rgb
    coverage = ndimage.gaussian_filter(((img - bg_rgb) @ axis) / float(axis @ axis), sigma=0.8)
    region = ndimage.binary_opening(coverage > 0.5)
    region = ndimage.binary_fill_holes(_largest_region(region))
    core = ndimage.binary_erosion(region, iterations=1)
    colour_pixels = img[core] if core.sum() >= MIN_SHAPE_PIXELS else img[region]
    return region, np.median(colour_pixels, axis=0)


def judge_image(image: object) -> Verdict:
    """Read background colour, shape colour and shape from a PIL image or an (H, W, 3) array."""
    img = _as_rgb_array(image)
    bg_rgb = np.median(_border_pixels(img), axis=0)
    background = nearest_colour(bg_rgb)
    region, rgb = _shape_region(img, bg_rgb)
    if rgb is None or region.sum() < MIN_SHAPE_PIXELS:
        return Verdict(background, "none", "none", 0.0, int(region.sum()))
    fill = _fill_ratio(region)
    return Verdict(background, nearest_colour(rgb), shape_from_fill(fill), fill, int(region.sum()))


def score(image: object, caption: str) -> Score:
    """Judge a picture against a world caption ("a red circle on a blue background")."""
    colour, shape, background = parse_caption(caption)
    verdict = judge_image(image)
    return Score(verdict, verdict.background == background, verdict.colour == colour, verdict.shape == shape)
