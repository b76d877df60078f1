"""`ControlNet N: "Module: ..., Model: ..., ..."` in infotexts, written and read as the extension does.

Keys are the unit fields title-cased (`guidance_start` -> `Guidance Start`); the whole value is
quoted by the infotext writer because it holds `:` and `,`. Pasting reads the pairs back into unit
dicts (without images, which infotexts never carry).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from modules.controlnet.unit import ControlNetUnit

FIELDS = ("module", "model", "weight", "resize_mode", "processor_res", "threshold_a", "threshold_b",
          "guidance_start", "guidance_end", "pixel_perfect", "control_mode")
_KEY_TO_FIELD = {f.replace("_", " ").title(): f for f in FIELDS}
_KEY_TO_FIELD.update({"Hr Option": "hr_option"})
_PAIR_START = re.compile(r"(?:^|,\s*)(" + "|".join(re.escape(k) for k in _KEY_TO_FIELD) + r"):\s*")
_UNIT_KEY = re.compile(r"^ControlNet (\d+)$")


def _title(field: str) -> str:
    return field.replace("_", " ").title()


def unit_infotext(unit: ControlNetUnit, model_title: str, processor_res: int, threshold_a: float,
                  threshold_b: float) -> str:
    """The value of `ControlNet N` (the resolved processor values, as the extension records them)."""
    values: dict[str, Any] = {
        "module": unit.module, "model": model_title, "weight": unit.weight,
        "resize_mode": unit.resize_mode.value, "processor_res": processor_res,
        "threshold_a": threshold_a, "threshold_b": threshold_b, "guidance_start": unit.guidance_start,
        "guidance_end": unit.guidance_end, "pixel_perfect": unit.pixel_perfect,
        "control_mode": unit.control_mode.value,
    }
    text = ", ".join(f"{_title(k)}: {values[k]}" for k in FIELDS)
    if unit.hr_option.value != "Both":
        text += f", Hr Option: {unit.hr_option.value}"
    return text


def parse_unit_text(text: str) -> dict[str, Any]:
    """`Module: canny, Model: x [hash], ...` -> a unit dict (enabled) with typed numbers and flags."""
    matches = list(_PAIR_START.finditer(text))
    out: dict[str, Any] = {"enabled": True}
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        field = _KEY_TO_FIELD[match.group(1)]
        out[field] = _typed(text[match.end():end].strip())
    return out


def _typed(value: str) -> Any:
    if value in ("True", "False"):
        return value == "True"
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() and "." not in value else number


def units_from_infotext(params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every `ControlNet N` entry of parsed infotext params, in unit order."""
    found = []
    for key, value in params.items():
        match = _UNIT_KEY.match(str(key))
        if match and isinstance(value, str):
            found.append((int(match.group(1)), parse_unit_text(value)))
    return [unit for _, unit in sorted(found)]
