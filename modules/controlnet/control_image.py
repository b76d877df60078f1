"""From a unit's image to the hint tensor a ControlNet takes: resize modes and pixel perfect.

The three resize modes are the extension's: Just Resize stretches, Crop and Resize covers the
target and crops the overflow (centred), Resize and Fill fits inside and pads with the map's own
border colour (binary and flat-colour maps are resized so thin lines and regions survive; see
map_resize.py). Pixel Perfect picks the processor resolution that makes the detected map come out
at the generation size after that resize, so thin lines are not resampled twice.
"""

from __future__ import annotations

import numpy as np
import torch

from modules.controlnet.map_resize import resize_map
from modules.controlnet.unit import ResizeMode


def pixel_perfect_resolution(image_hw: tuple[int, int], target_hw: tuple[int, int], mode: ResizeMode) -> int:
    """The short-side processor resolution that lands on the target after `mode`'s resize."""
    (h, w), (th, tw) = image_hw, target_hw
    scale_h, scale_w = th / float(h), tw / float(w)
    scale = min(scale_h, scale_w) if mode is ResizeMode.RESIZE_AND_FILL else max(scale_h, scale_w)
    return int(round(scale * min(h, w)))


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """By the map's kind: thin binary lines keep full strength, flat-colour maps stay flat
    (modules/controlnet/map_resize.py)."""
    return resize_map(image, width, height)


def _border_colour(image: np.ndarray) -> np.ndarray:
    edge = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]], axis=0)
    return np.median(edge, axis=0).astype(np.uint8)


def fit_to_size(image: np.ndarray, width: int, height: int, mode: ResizeMode,
                fill: np.ndarray | None = None) -> np.ndarray:
    """An (H, W, C) uint8 map resized to (height, width) the way the unit's resize mode says.
    `fill`: the padding colour of Resize and Fill (default: the map's own border colour)."""
    h, w = image.shape[:2]
    if mode is ResizeMode.JUST_RESIZE:
        return _resize(image, width, height)
    if mode is ResizeMode.CROP_AND_RESIZE:
        k = max(width / w, height / h)
        scaled = _resize(image, max(width, round(w * k)), max(height, round(h * k)))
        top, left = (scaled.shape[0] - height) // 2, (scaled.shape[1] - width) // 2
        return scaled[top:top + height, left:left + width]
    k = min(width / w, height / h)
    sw, sh = min(width, max(1, round(w * k))), min(height, max(1, round(h * k)))
    scaled = _resize(image, sw, sh)
    canvas = np.empty((height, width, image.shape[2]), dtype=image.dtype)
    canvas[:] = _border_colour(scaled) if fill is None else fill
    top, left = (height - sh) // 2, (width - sw) // 2
    canvas[top:top + sh, left:left + sw] = scaled
    return canvas


def hint_tensor(detected: np.ndarray, width: int, height: int, mode: ResizeMode) -> torch.Tensor:
    """(1, 3, height, width) float in [0, 1], the ControlNet conditioning image."""
    fitted = fit_to_size(detected, width, height, mode)
    return torch.from_numpy(np.ascontiguousarray(fitted)).float().div(255.0).permute(2, 0, 1).unsqueeze(0)
