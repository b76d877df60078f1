"""`inpaint_only` outside an img2img inpaint job (txt2img, img2img without a mask), as the
sd-webui-controlnet extension runs it: the unit works as the inpaint unit (its hint is -1 where its
mask says to repaint), and afterwards the unit's own picture is pasted back over the generated one
outside the mask, so only the masked area is new. The paste weight is the mask dilated and then
box-blurred by `control_net_inpaint_blur_sigma` pixels (the extension's setting, default 7), so the
new area blends into the kept one.

In an img2img inpaint job the extension (and this program, modules/controlnet/validation.py) runs
`inpaint_only` as the plain inpaint unit instead: the job's own inpainting keeps the unmasked pixels.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np
from PIL import Image

INPAINT_ONLY = "inpaint_only"
BLUR_SIGMA = "control_net_inpaint_blur_sigma"  # the extension's setting
DEFAULT_BLUR_SIGMA = 7


def blur_sigma(settings: Mapping[str, Any]) -> int:
    return max(1, int(settings.get(BLUR_SIGMA, DEFAULT_BLUR_SIGMA)))


def paste_weight(mask: np.ndarray, sigma: int) -> np.ndarray:
    """(H, W) float32 in [0, 1]: 1 where the generated picture is kept (the mask, grown and softened)."""
    kernel = np.ones((sigma, sigma), np.uint8)
    grown = cv2.dilate((mask > 127).astype(np.float32), kernel)
    return cv2.blur(grown, (sigma, sigma)).clip(0.0, 1.0)


def paste_back(image: Image.Image, picture: np.ndarray, weight: np.ndarray) -> Image.Image:
    """The generated `image` inside the mask, the unit's `picture` outside it, blended by `weight`."""
    generated = np.asarray(image.convert("RGB"), dtype=np.float32)
    w = weight[:, :, None]
    mixed = w * generated + (1.0 - w) * picture.astype(np.float32)
    return Image.fromarray(np.rint(mixed).clip(0, 255).astype(np.uint8), "RGB")


def split_inpaint_map(shown: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(picture, mask) from an inpaint unit's map (the picture with alpha 128 where it is repainted)."""
    return np.ascontiguousarray(shown[:, :, :3]), np.where(shown[:, :, 3] < 255, 255, 0).astype(np.uint8)


class InpaintOnlyPaste:
    """The `inpaint_only` units of the job being run (one job at a time; a new job starts over):
    per unit, its fitted picture and paste weight at the last pass's size (the hires size with
    hires fix), applied to every picture by the `after_image` hook."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._job: int | None = None
        self._units: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def start(self, req: Any) -> None:
        with self._lock:
            self._job, self._units = id(req), {}

    def put(self, req: Any, index: int, shown: np.ndarray, sigma: int) -> None:
        picture, mask = split_inpaint_map(shown)
        with self._lock:
            if self._job == id(req):
                self._units[index] = (picture, paste_weight(mask, sigma))

    def apply(self, payload: Any) -> None:
        """The `after_image` hook. A picture of another size than the unit's last pass (a unit kept
        to the low-res pass of a hires job) is left as it is, as the extension does."""
        with self._lock:
            units = [self._units[i] for i in sorted(self._units)] if self._job == id(payload.req) else []
        for picture, weight in units:
            if picture.shape[:2] == (payload.image.height, payload.image.width):
                payload.image = paste_back(payload.image, picture, weight)
