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
        return validate_units(runtime.controlnet, payload, has_init)
    except UnitError as err:
        raise ApiError(422, f"alwayson_scripts.controlnet: {err}") from err


def detected_map_images(runtime: Any, req: Any) -> list[str]:
    """The enabled units' detected maps as base64 PNGs, appended to the answer's images as the
    extension does (not with the `control_net_no_detectmap` setting, nor for `save_detected_map: false`)."""
    import base64

    from modules.controlnet.feature import IGNORE_NONINPAINT_MASK, detected_maps
    from modules.images.codec import encode_image_bytes

    service = getattr(runtime, "controlnet", None)
    if service is None or SCRIPT_KEY not in req.alwayson_scripts:
        return []
    settings = runtime.settings.view(req.override_settings)
    if settings.get("control_net_no_detectmap", False):
        return []
    maps = detected_maps(service, req, bool(settings.get(IGNORE_NONINPAINT_MASK, False)))
    return [base64.b64encode(encode_image_bytes(image, "png")).decode() for image in maps]
