"""ControlNet unit widgets' values <-> the extension's unit dicts (no gradio here: testable alone).

Unit widgets are named `controlnet_<i>_<field>` with the extension's field names, so the handler
gets them by keyword like every other form field, pasting an infotext fills them by name, and the
request carries them exactly as an API client would send them (`alwayson_scripts.controlnet`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from modules.controlnet.infotext import units_from_infotext

UNIT_FIELDS = ("enabled", "image", "module", "model", "weight", "guidance_start", "guidance_end",
               "control_mode", "resize_mode", "pixel_perfect", "processor_res", "threshold_a", "threshold_b",
               "low_vram", "hr_option", "mask")
IMAGE_FIELDS = ("image", "mask")  # never in an infotext, so never pasted
PREFIX = "controlnet_"
PASTE_BODY, PASTE_ACCORDION = "controlnet_body", "controlnet_accordion"  # paste targets, not form fields


def field_name(index: int, field: str) -> str:
    return f"{PREFIX}{index}_{field}"


def split_unit_values(values: Mapping[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the other form values, one unit dict per unit index found), widget names removed."""
    rest: dict[str, Any] = {}
    units: dict[int, dict[str, Any]] = {}
    for key, value in values.items():
        parsed = _parse_name(key)
        if parsed is None:
            rest[key] = value
            continue
        index, field = parsed
        units.setdefault(index, {})[field] = value
    return rest, [_clean(units[i]) for i in sorted(units)]


def _parse_name(key: str) -> tuple[int, str] | None:
    if not key.startswith(PREFIX):
        return None
    index, _, field = key[len(PREFIX):].partition("_")
    if not index.isdigit() or field not in UNIT_FIELDS:
        return None
    return int(index), field


def _clean(unit: dict[str, Any]) -> dict[str, Any]:
    """Sliders give floats; the processor resolution is a whole number. The unit's one mask widget
    is the inpaint mask of an inpaint preprocessor, else the effective region mask (the API keeps
    the extension's two fields; a mask drawn as a scribble input is an API-only form here)."""
    from modules.controlnet.unit_masks import is_inpaint_module

    if unit.get("processor_res") is not None:
        unit["processor_res"] = int(round(float(unit["processor_res"])))
    if unit.get("mask") is not None and not is_inpaint_module(str(unit.get("module") or "")):
        unit["effective_region_mask"] = unit.pop("mask")
    return unit


def with_units(alwayson_scripts: Mapping[str, Any], units: list[dict[str, Any]]) -> dict[str, Any]:
    """The request's alwayson_scripts with the UI's units (only when one is enabled)."""
    scripts = dict(alwayson_scripts)
    if any(u.get("enabled") for u in units):
        scripts["controlnet"] = {"args": units}
    return scripts


def paste_values(params: Mapping[str, Any], unit_count: int,
                 resolve_model: Callable[[str], str] | None = None) -> dict[str, Any]:
    """Widget values for the `ControlNet N` entries of a pasted infotext (other units are disabled).

    `resolve_model` turns a pasted model name (maybe with a stale hash) into the current title."""
    pasted = units_from_infotext(params)
    if not pasted and not any(str(k).startswith("ControlNet ") for k in params):
        return {}
    out: dict[str, Any] = {}
    by_index = {}
    for key in params:
        text = str(key)
        if text.startswith("ControlNet ") and text[len("ControlNet "):].isdigit():
            by_index[int(text[len("ControlNet "):])] = None
    for (index, unit) in zip(sorted(by_index), pasted, strict=False):
        if index >= unit_count:
            continue
        for field, value in unit.items():
            if field == "model" and resolve_model is not None:
                value = resolve_model(str(value))
            if field in UNIT_FIELDS and field not in IMAGE_FIELDS:
                out[field_name(index, field)] = value
    for index in range(unit_count):
        out.setdefault(field_name(index, "enabled"), False)
    return out


def request_with_units(service: Any, req: Any, units: list[dict[str, Any]]) -> Any:
    """The request carrying the tab's enabled units, validated (InvalidRequestError names unit and field)."""
    from modules.controlnet.unit import UnitError
    from modules.controlnet.validation import validate_units
    from modules.engine.validation import InvalidRequestError

    if service is None or not any(u.get("enabled") for u in units):
        return req
    try:
        parsed = validate_units(service, {"args": units}, has_init_image=bool(req.init_images),
                                inpaints_masked=req.mode == "img2img" and req.mask is not None)
    except UnitError as err:
        raise InvalidRequestError(str(err)) from err
    scripts = {**req.alwayson_scripts, "controlnet": {"args": parsed}}  # typed units: images decoded once
    return req.with_changes(alwayson_scripts=scripts)
