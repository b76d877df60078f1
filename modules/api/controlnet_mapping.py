"""`alwayson_scripts.controlnet` of txt2img/img2img bodies: validated up front, answered 422 if bad.

Checking before the job is queued means a client learns at once which unit and field is wrong
(unknown module or model, an image that is not an image, a weight out of range) instead of
getting a failed job later. The parsed units travel in the request, so images are decoded once.
"""

from __future__ import annotations

from typing import Any

from modules.api.errors import ApiError
from modules.controlnet.feature import SCRIPT_KEY
from modules.controlnet.unit import ControlNetUnit, UnitError
from modules.controlnet.validation import validate_units

ALWAYSON_SCRIPTS = (SCRIPT_KEY,)


def controlnet_units(values: dict[str, Any], runtime: Any, mode: str) -> list[ControlNetUnit] | None:
    """The body's parsed units (None when it has no ControlNet entry)."""
    scripts = values.get("alwayson_scripts") or {}
    payload = next((v for k, v in scripts.items() if str(k).lower() == SCRIPT_KEY), None)
    if payload is None:
        return None
    has_init = mode == "img2img" and bool(values.get("init_images"))
    try:
        return validate_units(runtime.controlnet, payload, has_init,
                              inpaints_masked=mode == "img2img" and bool(values.get("mask")))
    except UnitError as err:
        raise ApiError(422, f"alwayson_scripts.controlnet: {err}") from err
