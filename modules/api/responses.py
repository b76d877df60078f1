"""GenerationResult -> A1111's response body: raw base64 images, the request echo, info JSON.

Images go out in the `samples_format` setting (PNG by default) and carry their infotext the
way A1111's readers expect (PNG `parameters` chunk, JPEG/WebP EXIF UserComment), so an image
saved by a client still pastes back into PNG Info.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from PIL import Image

from modules.engine.request import GenerationResult
from modules.images.codec import encode_image_bytes


def encode_image_b64(image: Image.Image, settings: Mapping[str, Any]) -> str:
    """Raw base64 (no `data:` prefix) of one image in the configured format."""
    fmt = str(settings.get("samples_format") or "png").lower()
    info = image.info.get("parameters") if settings.get("enable_pnginfo", True) else None
    data = encode_image_bytes(image, fmt, info if isinstance(info, str) else None,
                              jpeg_quality=int(settings.get("jpeg_quality", 80)),
                              webp_lossless=bool(settings.get("webp_lossless", False)))
    return base64.b64encode(data).decode("ascii")


def encode_png_b64(image: Image.Image) -> str:
    """Live previews: always PNG, no metadata."""
    return base64.b64encode(encode_image_bytes(image, "png")).decode("ascii")


def info_json(info: Mapping[str, Any]) -> str:
    """A1111's `processed.js()`: values JSON cannot hold become null."""
    return json.dumps(dict(info), default=lambda _o: None)


def generation_response(result: GenerationResult, parameters: dict[str, Any], send_images: bool,
                        settings: Mapping[str, Any]) -> dict[str, Any]:
    """`{"images", "parameters", "info"}` exactly as A1111's txt2img/img2img answer. An
    interrupted job answers 200 with the images finished before the interrupt (A1111's
    behaviour) and says so with `"interrupted": true` inside `info` (false otherwise)."""
    images = [encode_image_b64(im, settings) for im in result.images] if send_images else []
    info = {**dict(result.info), "interrupted": bool(result.interrupted)}
    return {"images": images, "parameters": parameters, "info": info_json(info)}
