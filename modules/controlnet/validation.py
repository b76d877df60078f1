"""Checking a request's units before it is queued (shared by the API and the UI)."""

from __future__ import annotations

from typing import Any

from modules.controlnet.model_files import is_none_model
from modules.controlnet.service import ControlNetService, UnknownControlNetModelError
from modules.controlnet.unit import ControlNetUnit, UnitError, parse_units


def validate_units(service: ControlNetService, payload: Any, has_init_image: bool) -> list[ControlNetUnit]:
    """Parsed units; UnitError names the unit and field (unknown model/module, missing image, ...)."""
    units = parse_units(payload, service.preprocessors.canonical)
    for index, unit in enumerate(units):
        if not unit.enabled:
            continue
        if not is_none_model(unit.model):
            try:
                service.find_model(unit.model)
            except UnknownControlNetModelError as err:
                raise UnitError("model", f"ControlNet unit {index} 'model': {err}") from None
        if unit.image is None and not has_init_image:
            raise UnitError("image", f"ControlNet unit {index} 'image' is missing; give the unit a control image "
                                     "(in img2img a unit without one uses the input image)")
    return units
