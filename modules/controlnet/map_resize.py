"""Resizing a detected map so its kind survives, as the sd-webui-controlnet extension does.

A plain area/cubic resize fades thin lines: a 1-px canny edge shrunk 8x becomes a grey of 255/8.
So the map's colours decide the method:
- binary maps (exactly two colours, one near black and one near white: canny, lineart, scribble,
  mlsd, blobs) are resized smoothly, averaged to grey and thresholded again (Otsu), so every line
  that left any trace comes out at full strength and the map stays black and white;
- maps of a few flat colours (3..199: segmentation) use nearest neighbour, so no new colours
  (which would mean other classes) appear at region borders;
- everything else (depth, normals, photos) resizes smoothly: area when shrinking, cubic when enlarging.
"""

from __future__ import annotations

import cv2
import numpy as np

MAX_FLAT_COLOURS = 200  # fewer distinct colours than this (and more than 2): a segmentation-like map


def colour_count(image: np.ndarray, limit: int = MAX_FLAT_COLOURS) -> int:
    """Distinct colours of an (H, W, C) uint8 map (counted up to `limit`, which is enough to decide)."""
    pixels = image.reshape(-1, image.shape[2]).astype(np.uint32)
    keys = pixels[:, 0]
    for c in range(1, min(image.shape[2], 4)):
        keys = (keys << 8) | pixels[:, c]
    return min(len(np.unique(keys)), limit)


def is_binary_map(image: np.ndarray, colours: int | None = None) -> bool:
    """Two colours, the darkest below 16 and the brightest above 240 (the extension's test)."""
    colours = colour_count(image) if colours is None else colours
    return colours == 2 and int(image.min()) < 16 and int(image.max()) > 240


def _smooth(image: np.ndarray, width: int, height: int) -> np.ndarray:
    shrinking = width * height < image.shape[0] * image.shape[1]
    out = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)
    return out.reshape(height, width, image.shape[2])


def _binary(image: np.ndarray, width: int, height: int) -> np.ndarray:
    grey = _smooth(image, width, height).astype(np.float32).mean(axis=2).clip(0, 255).astype(np.uint8)
    if grey.min() == grey.max():  # nothing left to separate: keep the one colour
        return np.repeat(grey[:, :, None], image.shape[2], axis=2)
    _, sharp = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return np.repeat(sharp[:, :, None], image.shape[2], axis=2)


def resize_map(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """An (H, W, C) uint8 control map at (height, width), resized by its kind (see the module doc)."""
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    colours = colour_count(image)
    if is_binary_map(image, colours):
        return _binary(image, width, height)
    if 2 < colours < MAX_FLAT_COLOURS:
        out = cv2.resize(image, (width, height), interpolation=cv2.INTER_NEAREST)
        return out.reshape(height, width, image.shape[2])
    return _smooth(image, width, height)
