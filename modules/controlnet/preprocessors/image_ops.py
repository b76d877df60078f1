"""Small image helpers shared by preprocessors and the control-image preparation."""

from __future__ import annotations

import cv2
import numpy as np


def hwc3(image: np.ndarray) -> np.ndarray:
    """Any uint8 image -> (H, W, 3): grey is repeated, alpha is composited on white."""
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = image[:, :, None]
    channels = image.shape[2]
    if channels == 3:
        return image
    if channels == 1:
        return np.concatenate([image] * 3, axis=2)
    colour = image[:, :, :3].astype(np.float32)
    alpha = image[:, :, 3:4].astype(np.float32) / 255.0
    return np.clip(colour * alpha + 255.0 * (1.0 - alpha), 0, 255).astype(np.uint8)


def resize_short_side(image: np.ndarray, resolution: int) -> np.ndarray:
    """Scale so the short side is `resolution` (area filter to shrink, cubic to enlarge)."""
    h, w = image.shape[:2]
    k = resolution / float(min(h, w))
    size = (max(1, round(w * k)), max(1, round(h * k)))
    if size == (w, h):
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC)


def grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
