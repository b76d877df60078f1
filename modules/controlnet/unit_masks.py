"""A unit's masks, as the sd-webui-controlnet extension uses them.

- `effective_region_mask` restricts where the unit's control applies: every residual is multiplied
  by the mask (its first channel, 0..1) resized bilinearly to that residual's resolution, so black
  areas get no control and an all-black mask is the same as no unit.
- `mask` (alias `mask_image`, or the `mask` of an `{"image", "mask"}` image) is the unit's inpaint
  mask for inpaint preprocessors. For the other preprocessors the extension treats it as a scribble
  drawn on the canvas: when it has any drawing (not all black, not all white) the drawing itself
  becomes the control input, unless the setting `controlnet_ignore_noninpaint_mask` is on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from modules.controlnet.control_image import fit_to_size
from modules.controlnet.unit import ResizeMode

Crop = tuple[tuple[int, int], tuple[int, int, int, int]]  # (init image size, crop box) of "Only masked"


def is_inpaint_module(module: str) -> bool:
    return module.lower().startswith("inpaint")


def first_channel(image: Image.Image) -> np.ndarray:
    """(H, W) uint8: the mask's first channel (the extension reads channel 0 of an RGB mask)."""
    if image.mode in ("L", "1"):
        return np.asarray(image.convert("L"))
    return np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, 0])


def has_drawing(mask: np.ndarray) -> bool:
    """The extension's test: a mask that is all black (<= 5) or all white (>= 250) holds no drawing."""
    return not (bool((mask <= 5).all()) or bool((mask >= 250).all()))


def scribble_input(image: Image.Image, mask: Image.Image | None) -> Image.Image:
    """The control input of a non-inpaint unit: the drawn mask when it has a drawing, else the image."""
    if mask is None:
        return image
    drawn = first_channel(mask.resize(image.size, Image.NEAREST) if mask.size != image.size else mask)
    if not has_drawing(drawn):
        return image
    return Image.fromarray(np.stack([drawn] * 3, axis=2))


def region_mask_tensor(mask: Image.Image, width: int, height: int, crop: Crop | None = None) -> torch.Tensor:
    """(1, 1, h, w) float in [0, 1]. Without a crop the mask keeps its own size (it is stretched to
    each residual, as the extension does); with "Only masked" it gets the init image's crop first,
    so it covers the same part of the picture as the cropped control map."""
    values = first_channel(mask)
    if crop is not None:
        (w, h), (left, top, right, bottom) = crop
        whole = fit_to_size(np.stack([values] * 3, axis=2), w, h, ResizeMode.JUST_RESIZE)
        part = np.ascontiguousarray(whole[top:bottom, left:right])
        values = fit_to_size(part, width, height, ResizeMode.RESIZE_AND_FILL)[:, :, 0]
    return torch.from_numpy(np.array(values, dtype=np.float32)).div(255.0)[None, None]


def apply_region_mask(residual: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The residual times the mask resized to the residual's resolution."""
    if mask is None:
        return residual
    resized = F.interpolate(mask.to(residual.device, torch.float32), size=tuple(residual.shape[-2:]),
                            mode="bilinear", align_corners=False)
    return residual * resized.to(residual.dtype)


def inpaint_mask(mask: Image.Image | None, req: Any, image: Image.Image, own_image: bool) -> np.ndarray:
    """(H, W) uint8 at the control image's size, 255 = repaint: the unit's mask; for a unit that uses
    the img2img input, the job's inpaint mask (inverted and blurred as the job reads it); else none."""
    size = image.size
    if mask is not None:
        return first_channel(mask.resize(size, Image.NEAREST) if mask.size != size else mask)
    job_mask = getattr(req, "mask", None)
    if own_image or job_mask is None:
        return np.zeros((size[1], size[0]), np.uint8)
    from modules.engine.masks import blur_mask, read_mask

    read = read_mask(job_mask, size, bool(getattr(req, "inpainting_mask_invert", 0)))
    return np.array(blur_mask(read, getattr(req, "mask_blur_x", 0), getattr(req, "mask_blur_y", 0)))


def fit_inpaint_mask(mask: np.ndarray, width: int, height: int, mode: ResizeMode, crop: Crop | None) -> np.ndarray:
    """The mask fitted like the control map; Resize and Fill's padding is to be painted (outpainting)."""
    stacked = np.stack([mask] * 3, axis=2)
    if crop is not None:
        (w, h), (left, top, right, bottom) = crop
        whole = fit_to_size(stacked, w, h, mode, fill=np.full(3, 255, np.uint8))
        stacked = np.ascontiguousarray(whole[top:bottom, left:right])
        mode = ResizeMode.RESIZE_AND_FILL
    fitted = fit_to_size(stacked, width, height, mode, fill=np.full(3, 255, np.uint8))[:, :, 0]
    return np.where(fitted > 127, 255, 0).astype(np.uint8)


def inpaint_hint(fitted: np.ndarray, mask: np.ndarray) -> torch.Tensor:
    """(1, 3, H, W): the picture in [0, 1] with -1 where it is to be repainted (the extension's
    inpaint protocol, `colour * (1 - m) - m`)."""
    colour = torch.from_numpy(np.ascontiguousarray(fitted[:, :, :3])).float().div(255.0).permute(2, 0, 1)
    m = torch.from_numpy(mask > 127).float()[None]
    return (colour * (1 - m) - m).unsqueeze(0)


def visible_inpaint_map(fitted: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The map shown after the pictures: RGBA, the area to repaint half transparent (as the extension
    shows inpaint maps)."""
    return np.dstack([fitted[:, :, :3], (255 - mask // 2).astype(np.uint8)])
