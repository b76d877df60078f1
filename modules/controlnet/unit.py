"""A ControlNet unit, typed, and its parsing from the sd-webui-controlnet extension's unit dicts.

API clients send units as dicts with the extension's field names, legacy aliases (`input_image`,
`mask`/`mask_image`, `lowvram`, `guidance`) and loose value forms (mode names, old names, or
indexes). Everything is normalised here once, and every problem is a `UnitError` naming the unit
and the field, which the API answers with 422 and the UI shows beside the unit.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from PIL import Image

from modules.images.codec import decode_image_b64

MAX_WEIGHT = 2.0
MAX_PROCESSOR_RES = 2048


class ResizeMode(enum.StrEnum):
    JUST_RESIZE = "Just Resize"
    CROP_AND_RESIZE = "Crop and Resize"  # the extension's "inner fit"
    RESIZE_AND_FILL = "Resize and Fill"  # the extension's "outer fit"


class ControlMode(enum.StrEnum):
    BALANCED = "Balanced"
    PROMPT = "My prompt is more important"
    CONTROL = "ControlNet is more important"


class HiresOption(enum.StrEnum):
    BOTH = "Both"
    LOW_RES_ONLY = "Low res only"
    HIGH_RES_ONLY = "High res only"


_OLD_RESIZE_NAMES = {
    "inner fit (scale to fit)": ResizeMode.CROP_AND_RESIZE,
    "scale to fit (inner fit)": ResizeMode.CROP_AND_RESIZE,
    "envelope (outer fit)": ResizeMode.RESIZE_AND_FILL,
    "outer fit (shrink to fit)": ResizeMode.RESIZE_AND_FILL,
}
_ALIASES = {"input_image": "image", "mask_image": "mask", "lowvram": "low_vram", "guidance": "guidance_end"}


class UnitError(ValueError):
    """A unit field is invalid; `field` names it for the API answer and the UI."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ControlNetUnit:
    """One unit as the engine uses it (images decoded, modes as enums)."""

    enabled: bool = False
    module: str = "none"
    model: str = "None"
    weight: float = 1.0
    image: Image.Image | None = None
    mask: Image.Image | None = None  # inpaint units: the area to repaint; others: a drawn scribble input
    effective_region_mask: Image.Image | None = None  # the control applies only where this is white
    resize_mode: ResizeMode = ResizeMode.CROP_AND_RESIZE
    low_vram: bool = False
    processor_res: int = -1
    threshold_a: float = -1.0
    threshold_b: float = -1.0
    guidance_start: float = 0.0
    guidance_end: float = 1.0
    pixel_perfect: bool = False
    control_mode: ControlMode = ControlMode.BALANCED
    inpaint_crop_input_image: bool = True
    hr_option: HiresOption = HiresOption.BOTH
    save_detected_map: bool = True

    def with_changes(self, **changes: Any) -> "ControlNetUnit":
        return replace(self, **changes)


def _enum_value(kind: type[enum.StrEnum], value: Any, field: str, extra: Mapping[str, Any] | None = None) -> Any:
    members = list(kind)
    if isinstance(value, kind):
        return value
    if isinstance(value, bool):
        raise UnitError(field, f"'{field}' must be one of {[m.value for m in members]} "
                               f"or an index 0-{len(members) - 1}")
    if isinstance(value, (int, float)) and int(value) == value and 0 <= int(value) < len(members):
        return members[int(value)]
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit() and int(text) < len(members):
            return members[int(text)]
        for member in members:
            if member.value.lower() == text.lower() or member.name.lower() == text.lower():
                return member
        if extra and text.lower() in extra:
            return extra[text.lower()]
    raise UnitError(field, f"'{field}' is {value!r}; use one of {[m.value for m in members]} "
                           f"or an index 0-{len(members) - 1}")


def _number(value: Any, field: str, lo: float | None = None, hi: float | None = None) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UnitError(field, f"'{field}' must be a number, not {value!r}") from None
    if number != number or (lo is not None and number < lo) or (hi is not None and number > hi):
        raise UnitError(field, f"'{field}' is {value!r}; it must be between {lo} and {hi}")
    return number


def _flag(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise UnitError(field, f"'{field}' must be true or false, not {value!r}")


def _one_image(value: Any, field: str) -> Image.Image | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, Image.Image):
        return value
    if isinstance(value, str):
        try:
            return decode_image_b64(value)
        except ValueError as err:
            raise UnitError(field, f"'{field}': {err}") from None
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return Image.fromarray(value)
    raise UnitError(field, f"'{field}' must be a base64 image, not {type(value).__name__}")


def split_image(value: Any, field: str = "image") -> tuple[Image.Image | None, Image.Image | None]:
    """(image, mask) from any of the extension's forms: b64, {"image", "mask"}, [image, mask], or a
    list of those (a batch; its first entry is used)."""
    if isinstance(value, Mapping):
        return _one_image(value.get("image"), field), _one_image(value.get("mask"), "mask")
    if isinstance(value, (list, tuple)):
        if not value:
            return None, None
        if all(isinstance(v, (Mapping, list, tuple)) for v in value):
            return split_image(value[0], field)
        mask = value[1] if len(value) > 1 else None
        return _one_image(value[0], field), _one_image(mask, "mask")
    return _one_image(value, field), None


def _canonical_keys(data: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = _ALIASES.get(key, key)
        if name in out and key in _ALIASES:
            continue  # the real field wins over its legacy alias
        out[name] = value
    return out


def parse_unit(data: Mapping[str, Any] | ControlNetUnit, index: int = 0,
               known_modules: Any = None) -> ControlNetUnit:
    """A typed unit from an API/UI dict; unknown keys are ignored (as the extension does).

    `known_modules` (a callable name -> canonical name or None) validates the preprocessor.
    """
    if isinstance(data, ControlNetUnit):
        return data
    if not isinstance(data, Mapping):
        raise UnitError("args", f"ControlNet unit {index} must be an object with the unit's fields, "
                                f"not {type(data).__name__}")
    try:
        return _parse(_canonical_keys(data), known_modules)
    except UnitError as err:
        raise UnitError(err.field, f"ControlNet unit {index}: {err}") from None


def _parse(d: dict[str, Any], known_modules: Any) -> ControlNetUnit:
    image, inline_mask = split_image(d.get("image"))
    mask = _one_image(d.get("mask"), "mask") if d.get("mask") is not None else inline_mask
    module = str(d.get("module") or "none")
    if known_modules is not None:
        canonical = known_modules(module)
        if canonical is None:
            raise UnitError("module", f"'module' {module!r} is not a known preprocessor; "
                                      "GET /controlnet/module_list lists them")
        module = canonical
    unit = ControlNetUnit(
        enabled=_flag(d.get("enabled", False), "enabled"),
        module=module,
        model=str(d.get("model") or "None"),
        weight=_number(d.get("weight", 1.0), "weight", 0.0, MAX_WEIGHT),
        image=image,
        mask=mask,
        effective_region_mask=_one_image(d.get("effective_region_mask"), "effective_region_mask"),
        resize_mode=_enum_value(ResizeMode, d.get("resize_mode", ResizeMode.CROP_AND_RESIZE), "resize_mode",
                                _OLD_RESIZE_NAMES),
        low_vram=_flag(d.get("low_vram", False), "low_vram"),
        processor_res=int(_number(d.get("processor_res", -1), "processor_res", -1, MAX_PROCESSOR_RES)),
        threshold_a=_number(d.get("threshold_a", -1), "threshold_a"),
        threshold_b=_number(d.get("threshold_b", -1), "threshold_b"),
        guidance_start=_number(d.get("guidance_start", 0.0), "guidance_start", 0.0, 1.0),
        guidance_end=_number(d.get("guidance_end", 1.0), "guidance_end", 0.0, 1.0),
        pixel_perfect=_flag(d.get("pixel_perfect", False), "pixel_perfect"),
        control_mode=_enum_value(ControlMode, d.get("control_mode", ControlMode.BALANCED), "control_mode"),
        inpaint_crop_input_image=_flag(d.get("inpaint_crop_input_image", True), "inpaint_crop_input_image"),
        hr_option=_enum_value(HiresOption, d.get("hr_option", HiresOption.BOTH), "hr_option"),
        save_detected_map=_flag(d.get("save_detected_map", True), "save_detected_map"),
    )
    if unit.guidance_start > unit.guidance_end:
        raise UnitError("guidance_start", f"'guidance_start' ({unit.guidance_start}) is after 'guidance_end' "
                                          f"({unit.guidance_end}); the start must not be later than the end")
    return unit


def parse_units(args: Any, known_modules: Any = None) -> list[ControlNetUnit]:
    """The `alwayson_scripts.controlnet.args` list (a bare list, or {"args": [...]})."""
    if isinstance(args, Mapping):
        args = args.get("args", [])
    if not isinstance(args, (list, tuple)):
        raise UnitError("args", "alwayson_scripts.controlnet.args must be a list of units")
    return [parse_unit(u, i, known_modules) for i, u in enumerate(args)]


def unit_to_dict(unit: ControlNetUnit) -> dict[str, Any]:
    """The unit's plain fields (no images) in the extension's names, e.g. for infotext round trips."""
    return {
        "enabled": unit.enabled, "module": unit.module, "model": unit.model, "weight": unit.weight,
        "resize_mode": unit.resize_mode.value, "low_vram": unit.low_vram, "processor_res": unit.processor_res,
        "threshold_a": unit.threshold_a, "threshold_b": unit.threshold_b,
        "guidance_start": unit.guidance_start, "guidance_end": unit.guidance_end,
        "pixel_perfect": unit.pixel_perfect, "control_mode": unit.control_mode.value,
        "hr_option": unit.hr_option.value, "save_detected_map": unit.save_detected_map,
    }
