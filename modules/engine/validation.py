"""Request checks with messages that name the problem and the fix.

The UI and the API both turn these `InvalidRequestError`s into a visible message / a 4xx
answer; nothing here is a silent correction.
"""

from __future__ import annotations

import math
from typing import Any

from modules.engine.request import GenerationRequest
from modules.text.prompt_limits import DEFAULT_PROMPT_MAX_CHARS, PromptTooLongError, check_prompt_length
from modules.text.prompt_limits import SETTING as PROMPT_SETTING

MIN_SIZE, MAX_SIZE = 64, 2048
MAX_STEPS = 1000  # default of the `max_sampling_steps` setting (A1111's API has no bound; its slider stops at 150)
MAX_BATCH_IMAGES = 64
# Seeds go to torch generators as unsigned 64-bit numbers, seed + image index for a batch.
MAX_SEED = 2**64 - 1 - MAX_BATCH_IMAGES
SAMPLER_FLOATS = ("eta", "s_churn", "s_tmin", "s_tmax", "s_noise", "s_min_uncond")


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


def _check_numbers(req: GenerationRequest) -> None:
    """Seeds in the generators' range; no NaN or infinity anywhere a number is taken."""
    for name in ("seed", "subseed"):
        value = getattr(req, name)
        if not -1 <= value <= MAX_SEED:
            raise InvalidRequestError(f"{name} must be -1 (random) or from 0 to {MAX_SEED}, got {value}")
    for name in ("cfg_scale", "subseed_strength", "denoising_strength", "image_cfg_scale",
                 "initial_noise_multiplier", *SAMPLER_FLOATS):
        value = getattr(req, name, None)
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidRequestError(f"{name} must be a finite number, got {value}")


def _check_prompts(req: GenerationRequest, ctx: Any, limit: int | None) -> None:
    if limit is None:
        settings = getattr(ctx, "settings", None)
        limit = int(settings.get(PROMPT_SETTING, DEFAULT_PROMPT_MAX_CHARS)) if settings else DEFAULT_PROMPT_MAX_CHARS
    try:
        check_prompt_length(req.prompt, "prompt", limit)
        check_prompt_length(req.negative_prompt, "negative prompt", limit)
    except PromptTooLongError as e:
        raise InvalidRequestError(str(e)) from e


def validate_request(req: GenerationRequest, ctx: Any = None, max_steps: int | None = None, *,
                     prompt_limit: int | None = None) -> None:
    """Raise InvalidRequestError for anything the engine cannot do as asked. `prompt_limit`
    defaults to the `prompt_max_chars` setting of `ctx` (or its default). `max_steps` is the
    `max_sampling_steps` setting (of `ctx` when not given): long runs stay interruptible at every
    step, the bound only stops a typo (steps=100000) from occupying the queue for hours."""
    _check_numbers(req)
    _check_prompts(req, ctx, prompt_limit)
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
