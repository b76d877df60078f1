"""Request checks with messages that name the problem and the fix.

The UI and the API both turn these `InvalidRequestError`s into a visible message / a 4xx
answer; nothing here is a silent correction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modules.engine.field_rules import Lookup, finite_problem
from modules.engine.request import GenerationRequest
from modules.engine.request_fields import (  # noqa: F401 - the limits are part of this module's interface
    MAX_BATCH_IMAGES,
    MAX_SEED,
    MAX_SIZE,
    MAX_STEPS,
    MIN_SIZE,
    REQUEST_FIELDS,
    RequestField,
)
from modules.text.prompt_limits import DEFAULT_PROMPT_MAX_CHARS, PromptTooLongError, check_prompt_length
from modules.text.prompt_limits import SETTING as PROMPT_SETTING


class InvalidRequestError(ValueError):
    """The request cannot run as given; the message says what to change."""


def steps_bound(settings: Any) -> int:
    """The `max_sampling_steps` setting of a settings store or view (the default when unset or bad)."""
    try:
        return max(int(settings.get("max_sampling_steps", MAX_STEPS)), 1)
    except (AttributeError, TypeError, ValueError):
        return MAX_STEPS


def field_problem(row: RequestField, mode: str, lookup: Lookup, limits: Mapping[str, Any],
                  group: str | None = None) -> str | None:
    """The first rule of `row` the value breaks (a float must also be finite); None when it fits.
    `group` runs only that group's rules (a feature checking its own fields)."""
    value = lookup(row.attr)
    if value is None or mode not in row.bodies:
        return None
    if group is None and row.kind == "float" and (problem := finite_problem(row.attr, value)):
        return problem
    for rule in row.rules:
        if (group is None or rule.group == group) and rule.applies(mode, value, lookup):
            if problem := rule.problem(row.attr, value, limits):
                return problem
    return None


def check_fields(lookup: Lookup, mode: str, limits: Mapping[str, Any] | None = None, *,
                 fields: tuple[RequestField, ...] = REQUEST_FIELDS, group: str | None = None) -> None:
    """Run the field table's rules over a request (`lookup` gives each field's value: a
    `GenerationRequest`'s attribute or an API body's value); raise at the first broken one."""
    limits = {"max_steps": MAX_STEPS, **(limits or {})}
    for row in fields:
        if problem := field_problem(row, mode, lookup, limits, group):
            raise InvalidRequestError(problem)


def request_lookup(req: Any) -> Lookup:
    """Field values of a request object (a `GenerationRequest` also answers for a feature's rows
    from its `extra_fields`); fields it does not have read as None (unchecked)."""
    value = getattr(req, "value", None)
    if callable(value):
        return lambda name: value(name)
    return lambda name: getattr(req, name, None)


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
                     prompt_limit: int | None = None, fields: tuple[RequestField, ...] | None = None) -> None:
    """Raise InvalidRequestError for anything the engine cannot do as asked: the field table's
    rules (`engine/request_fields.py`), then the rules that span fields. `prompt_limit`
    defaults to the `prompt_max_chars` setting of `ctx` (or its default). `max_steps` is the
    `max_sampling_steps` setting (of `ctx` when not given). `fields`: the app's field table
    (`Runtime.request_fields.rows`; else `ctx.request_fields`, else the built-in one). Long runs
    stay interruptible at every step, the bound only stops a typo (steps=100000) from occupying the queue for hours."""
    if req.mode not in ("txt2img", "img2img"):
        raise InvalidRequestError(f"unknown mode {req.mode!r}; use txt2img or img2img")
    _check_prompts(req, ctx, prompt_limit)
    if max_steps is None:
        max_steps = steps_bound(getattr(ctx, "settings", None))
    table = fields or getattr(ctx, "request_fields", None) or REQUEST_FIELDS  # the app's table (features' rows)
    check_fields(request_lookup(req), req.mode, {"max_steps": max_steps}, fields=table)
    if req.batch_size * req.n_iter > MAX_BATCH_IMAGES:
        raise InvalidRequestError(f"at most {MAX_BATCH_IMAGES} images per job (batch size × batch count)")
    if req.mode == "img2img" and not req.init_images:
        raise InvalidRequestError("img2img needs an init image")
