"""Request checks with messages that name the problem and the fix.

The UI and the API both turn these `InvalidRequestError`s into a visible message / a 4xx
answer; nothing here is a silent correction.
"""

from __future__ import annotations

from typing import Any

from modules.engine.request import GenerationRequest

MIN_SIZE, MAX_SIZE = 64, 2048
MAX_STEPS = 1000  # default of the `max_sampling_steps` setting (A1111's API has no bound; its slider stops at 150)
MAX_BATCH_IMAGES = 64


class InvalidRequestError(ValueError):
    """The request cannot run as given; the message says what to change."""


def _check_size(name: str, value: int) -> None:
    if not MIN_SIZE <= value <= MAX_SIZE:
        raise InvalidRequestError(f"{name} must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {value}")
    if value % 8:
        raise InvalidRequestError(f"{name} must be a multiple of 8, got {value} (try {value - value % 8})")


def steps_bound(settings: Any) -> int:
    """The `max_sampling_steps` setting of a settings store or view (the default when unset or bad)."""
    try:
        return max(int(settings.get("max_sampling_steps", MAX_STEPS)), 1)
    except (AttributeError, TypeError, ValueError):
        return MAX_STEPS


def validate_request(req: GenerationRequest, ctx: Any = None, max_steps: int | None = None) -> None:
    """Raise InvalidRequestError for anything the engine cannot do as asked. `max_steps` is the
    `max_sampling_steps` setting: long runs stay interruptible at every step, the bound only
    stops a typo (steps=100000) from occupying the queue for hours."""
    if req.mode not in ("txt2img", "img2img"):
        raise InvalidRequestError(f"unknown mode {req.mode!r}; use txt2img or img2img")
    _check_size("width", req.width)
    _check_size("height", req.height)
    if max_steps is None:
        max_steps = steps_bound(getattr(ctx, "settings", None))
    if not 1 <= req.steps <= max_steps:
        raise InvalidRequestError(f"steps must be between 1 and {max_steps}, got {req.steps} "
                                  "(setting max_sampling_steps raises the bound)")
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
