"""Checking a request's units before it is queued (shared by the API and the UI)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modules.controlnet.model_files import is_none_model
from modules.controlnet.service import ControlNetService, UnknownControlNetModelError
from modules.controlnet.unit import ControlNetUnit, UnitError, parse_units

INPAINT_ONLY = "inpaint_only"



def module_resolver(service: ControlNetService, inpaints_masked: bool) -> Callable[[str], str | None]:
    """Preprocessor name -> canonical name (None: unknown). As the extension does, `inpaint_only` in
    an img2img inpaint job (one with a mask) falls back to `inpaint` (global harmonious): the job's
    own inpainting already keeps the unmasked pixels. Elsewhere it stays `inpaint_only`
    (modules/controlnet/inpaint_only.py pastes the unit's picture back outside its mask)."""

    def resolve(name: str) -> str | None:
        if inpaints_masked and str(name).strip().lower() == INPAINT_ONLY:
            return "inpaint"
        return service.preprocessors.canonical(name)

    return resolve


def validate_units(service: ControlNetService, payload: Any, has_init_image: bool,
                   inpaints_masked: bool = False) -> list[ControlNetUnit]:
    """Parsed units; UnitError names the unit and field (unknown model/module, missing image, ...)."""
    units = parse_units(payload, module_resolver(service, inpaints_masked))
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
