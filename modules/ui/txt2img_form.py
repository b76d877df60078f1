"""The txt2img tab's values as one named record, and its conversion to a `GenerationRequest`.

Gradio hands widget values over as loosely typed numbers (sliders give floats, an emptied
number box gives None). Converting them here, by field name, keeps the UI handler free of
positional argument lists and gives every bad value a message that names the widget.
The conversions and the fields both tabs share (`shared_request_fields`) serve img2img's form too,
so the same widget gives the same request field and the same message in either tab.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from modules.engine.request import GenerationRequest
from modules.engine.validation import InvalidRequestError
from modules.ui.field_widgets import form_labels

NO_SCRIPT = "None"

# Widget labels (the field table's), for messages that point at what the user sees.
LABELS = {**form_labels(), "refiner_switch_at": "Refiner: Switch at"}


@dataclass(frozen=True)
class Txt2ImgForm:
    """Everything the txt2img tab sends; names are the handler's keyword arguments."""

    prompt: str = ""
    negative_prompt: str = ""
    styles: tuple[str, ...] = ()
    sampler_name: str = "DPM++ 2M"
    scheduler: str = "Automatic"
    steps: Any = 20
    width: Any = 512
    height: Any = 512
    batch_count: Any = 1
    batch_size: Any = 1
    cfg_scale: Any = 7.0
    seed: Any = -1
    subseed: Any = -1
    subseed_strength: Any = 0.0
    seed_resize_from_w: Any = 0
    seed_resize_from_h: Any = 0
    tiling: bool = False
    override_settings: tuple[str, ...] = ()
    script_name: str = NO_SCRIPT
    enable_hr: bool = False
    hr_upscaler: str = "Latent"
    hr_second_pass_steps: Any = 0
    denoising_strength: Any = 0.7
    hr_scale: Any = 2.0
    hr_resize_x: Any = 0
    hr_resize_y: Any = 0
    hr_checkpoint_name: str = "Use same checkpoint"
    hr_sampler_name: str = "Use same sampler"
    hr_scheduler: str = "Use same scheduler"
    hr_prompt: str = ""
    hr_negative_prompt: str = ""
    enable_refiner: bool = False
    refiner_checkpoint: str = ""
    refiner_switch_at: Any = 0.8

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def as_int(name: str, value: Any) -> int:
    """A whole number from a slider/number/textbox value, or an error naming the widget."""
    label = LABELS.get(name, name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidRequestError(f"{label} is empty; enter a whole number")
    try:
        number = float(value)
    except (TypeError, ValueError) as e:
        raise InvalidRequestError(f"{label} must be a whole number, got {value!r}") from e
    if not math.isfinite(number) or not number.is_integer():
        raise InvalidRequestError(f"{label} must be a whole number, got {value!r}")
    return int(number)


def as_float(name: str, value: Any) -> float:
    label = LABELS.get(name, name)
    try:
        number = float(value)
    except (TypeError, ValueError) as e:
        raise InvalidRequestError(f"{label} must be a number, got {value!r}") from e
    if not math.isfinite(number):
        raise InvalidRequestError(f"{label} must be a finite number, got {value!r}")
    return number


def parse_override_entries(entries: Iterable[str], option_keys: Mapping[str, str]) -> dict[str, str]:
    """`["Clip skip: 2"]` -> `{"CLIP_stop_at_last_layers": "2"}` using the infotext→option table."""
    result: dict[str, str] = {}
    for entry in entries:
        label, sep, value = str(entry).partition(":")
        key = option_keys.get(label.strip())
        if not sep or key is None:
            raise InvalidRequestError(f"override setting {entry!r} is not known; "
                                      "remove it from 'Override settings'")
        result[key] = value.strip()
    return result


def typed_overrides(entries: Iterable[str], option_keys: Mapping[str, str] | None,
                    coerce_settings: Callable[[Mapping[str, Any]], dict[str, Any]] | None) -> Mapping[str, Any]:
    """The "Override settings" entries as option values; `coerce_settings` (`SettingsStore.validate`)
    types them, so a bad value is refused here with the setting named rather than deep in a job."""
    overrides: Mapping[str, Any] = parse_override_entries(entries, option_keys or {})
    if coerce_settings is not None and overrides:
        try:
            overrides = coerce_settings(overrides)
        except ValueError as e:
            raise InvalidRequestError(f"override settings: {e}") from e
    return overrides


def round_size_fields(form: Any) -> tuple[Any, list[str]]:
    """Width and Height typed as a number that is not a multiple of 8 are rounded down, as A1111's
    processing does (the latent is 1/8 of the size); the notes say so next to the result."""
    changes: dict[str, int] = {}
    notes: list[str] = []
    for name in ("width", "height"):
        value = as_int(name, getattr(form, name))
        if value % 8 and value > 8:
            changes[name] = value - value % 8
            notes.append(f"{LABELS[name]} {value} was rounded down to {changes[name]}: sizes are multiples of 8.")
    return (replace(form, **changes) if changes else form), notes


def shared_request_fields(form: Any, size: tuple[int, int] | None = None) -> dict[str, Any]:
    """The request fields txt2img and img2img fill from the same widgets, converted in widget order
    (so the first bad value is the one reported). `size` replaces the Width/Height sliders when the
    caller worked it out itself (img2img's "Resize by")."""
    head = {"prompt": form.prompt or "", "negative_prompt": form.negative_prompt or "",
            "styles": tuple(form.styles or ()), "sampler_name": form.sampler_name,
            "scheduler": form.scheduler or "Automatic", "steps": as_int("steps", form.steps)}
    width, height = size or (as_int("width", form.width), as_int("height", form.height))
    return {**head, "width": width, "height": height, "n_iter": as_int("batch_count", form.batch_count),
            "batch_size": as_int("batch_size", form.batch_size), "cfg_scale": as_float("cfg_scale", form.cfg_scale),
            "seed": as_int("seed", form.seed), "subseed": as_int("subseed", form.subseed),
            "subseed_strength": as_float("subseed_strength", form.subseed_strength),
            "seed_resize_from_w": as_int("seed_resize_from_w", form.seed_resize_from_w),
            "seed_resize_from_h": as_int("seed_resize_from_h", form.seed_resize_from_h)}


def to_request(form: Txt2ImgForm, *, option_keys: Mapping[str, str] | None = None,
               coerce_settings: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None,
               task_id: str | None = None) -> GenerationRequest:
    """Build the typed request; `coerce_settings` is `SettingsStore.validate` (types the overrides)."""
    overrides = typed_overrides(form.override_settings, option_keys, coerce_settings)
    script = form.script_name if form.script_name and form.script_name != NO_SCRIPT else None
    return GenerationRequest(mode="txt2img", **shared_request_fields(form), tiling=bool(form.tiling),
                             override_settings=overrides, script_name=script, task_id=task_id,
                             **hires_request_fields(form), **refiner_request_fields(form))


def refiner_request_fields(form: Any) -> dict[str, Any]:
    """The Refiner accordion (both tabs): A1111's `refiner_checkpoint`/`refiner_switch_at`, set only
    when "Refiner" is ticked and a checkpoint is chosen."""
    name = (getattr(form, "refiner_checkpoint", "") or "").strip()
    if not getattr(form, "enable_refiner", False) or not name:
        return {}
    return {"refiner_checkpoint": name, "refiner_switch_at": as_float("refiner_switch_at", form.refiner_switch_at)}


def hires_request_fields(form: Txt2ImgForm) -> dict[str, Any]:
    """The hires-fix fields of the request (A1111's `hr_*` names); "Use same ..." means unset."""
    def unless_same(value: str | None) -> str | None:
        return None if not value or value.startswith("Use same") else value

    return {"enable_hr": bool(form.enable_hr), "hr_upscaler": form.hr_upscaler or "Latent",
            "hr_second_pass_steps": as_int("hr_second_pass_steps", form.hr_second_pass_steps),
            "denoising_strength": as_float("denoising_strength", form.denoising_strength),
            "hr_scale": as_float("hr_scale", form.hr_scale), "hr_resize_x": as_int("hr_resize_x", form.hr_resize_x),
            "hr_resize_y": as_int("hr_resize_y", form.hr_resize_y),
            "hr_checkpoint_name": unless_same(form.hr_checkpoint_name),
            "hr_sampler_name": unless_same(form.hr_sampler_name), "hr_scheduler": unless_same(form.hr_scheduler),
            "hr_prompt": form.hr_prompt or "", "hr_negative_prompt": form.hr_negative_prompt or ""}
