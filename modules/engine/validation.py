"""Request checks with messages that name the problem and the fix.

The UI and the API both turn these `InvalidRequestError`s into a visible message / a 4xx
answer; nothing here is a silent correction.
"""

from __future__ import annotations

from typing import Any

from modules.engine.request import GenerationRequest

MIN_SIZE, MAX_SIZE = 64, 2048
MAX_STEPS = 150
MAX_BATCH_IMAGES = 64


class InvalidRequestError(ValueError):
    """The request cannot run as given; the message says what to change."""


def _check_size(name: str, value: int) -> None:
    if not MIN_SIZE <= value <= MAX_SIZE:
        raise InvalidRequestError(f"{name} must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {value}")
    if value % 8:
        raise InvalidRequestError(f"{name} must be a multiple of 8, got {value} (try {value - value % 8})")


def validate_request(req: GenerationRequest, ctx: Any = None) -> None:
    """Raise InvalidRequestError for anything the engine cannot do as asked."""
    if req.mode not in ("txt2img", "img2img"):
        raise InvalidRequestError(f"unknown mode {req.mode!r}; use txt2img or img2img")
    _check_size("width", req.width)
    _check_size("height", req.height)
    if not 1 <= req.steps <= MAX_STEPS:
        raise InvalidRequestError(f"steps must be between 1 and {MAX_STEPS}, got {req.steps}")
    if req.batch_size < 1 or req.n_iter < 1:
        raise InvalidRequestError("batch_size and n_iter (batch count) must be at least 1")
    if req.batch_size * req.n_iter > MAX_BATCH_IMAGES:
        raise InvalidRequestError(f"at most {MAX_BATCH_IMAGES} images per job (batch size × batch count)")
    if not 0.0 <= req.subseed_strength <= 1.0:
        raise InvalidRequestError(f"variation strength must be between 0 and 1, got {req.subseed_strength}")
    if req.cfg_scale < 0 or req.cfg_scale > 100:
        raise InvalidRequestError(f"CFG scale must be between 0 and 100, got {req.cfg_scale}")
    for name in ("seed_resize_from_w", "seed_resize_from_h"):
        value = getattr(req, name)
        if value > 0:
            _check_size(name, value)
    if req.mode == "img2img":
        if not req.init_images:
            raise InvalidRequestError("img2img needs an init image")
        if not 0.0 <= req.denoising_strength <= 1.0:
            raise InvalidRequestError(f"denoising strength must be between 0 and 1, got {req.denoising_strength}")
