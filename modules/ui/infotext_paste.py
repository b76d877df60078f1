"""Pasting an infotext into the txt2img tab: which widget each infotext key fills, typed.

A1111 links widgets to infotext keys (`Steps` -> the steps slider, `Size-1` -> width) and turns
keys that belong to settings (`Clip skip`, `ENSD`, `RNG`...) into per-request "Override
settings" entries, but only where the value differs from the current setting. Unlike A1111,
a value that cannot be used (an unknown sampler, say) is
reported, not silently replaced by a default.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modules.engine.request_fields import RequestField, convert_kind, ui_paste_fields

SamplerResolver = Callable[[str, str], tuple[str, str]]


@dataclass(frozen=True)
class PasteField:
    """One form field filled from one infotext key."""

    field: str
    key: str
    kind: str  # "str" | "int" | "float" | "bool" | "list"
    convert: Callable[[Any], Any] | None = None  # the field table's own conversion, when it has one


def paste_fields(tab: str, fields: tuple[RequestField, ...] | None = None) -> tuple[PasteField, ...]:
    """The paste button's fields of `tab`, from the field table (the built-in one when None)."""
    return tuple(PasteField(f.attr, str(f.infotext), f.kind, f.convert) for f in ui_paste_fields(tab, fields))


# From the one request-field table (modules/engine/request_fields.py).
TXT2IMG_PASTE_FIELDS: tuple[PasteField, ...] = paste_fields("txt2img")

# Keys that only mean something with hires fix: their presence ticks "Hires. fix".
HIRES_KEYS = ("Hires upscale", "Hires steps", "Hires upscaler", "Hires resize-1", "Hires resize-2",
              "Hires sampler", "Hires schedule type", "Hires checkpoint", "Hires prompt",
              "Hires negative prompt")
# Values the reader fills in for absent keys: these do not mean hires fix was used.
HIRES_FILLER = {"0", "", "Use same sampler", "Use same scheduler", "Use same checkpoint", 0}


@dataclass
class PasteResult:
    """Typed values by form field, Override-settings entries, and what could not be applied."""

    values: dict[str, Any] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def convert(kind: str, value: Any) -> Any:
    """Infotext values are strings ("20", "7.0", "True"); give them the widget's type."""
    return convert_kind(kind, value)


def _sampler_fields(params: Mapping[str, Any], resolve: SamplerResolver | None, result: PasteResult) -> None:
    """Legacy names like "DPM++ 2M Karras" become sampler "DPM++ 2M" + schedule "Karras"."""
    if resolve is None or "Sampler" not in params:
        return
    wanted = str(params["Sampler"])
    try:
        sampler, scheduler = resolve(wanted, str(params.get("Schedule type", "Automatic")))
    except (KeyError, LookupError, ValueError) as e:
        result.values.pop("sampler_name", None)
        result.values.pop("scheduler", None)
        result.warnings.append(f"sampler {wanted!r} is not available here ({e}); "
                               "the sampler was left unchanged")
        return
    result.values["sampler_name"], result.values["scheduler"] = sampler, scheduler


def hires_used(params: Mapping[str, Any]) -> bool:
    """Whether the infotext comes from a hires-fix picture (A1111 ticks the checkbox then)."""
    return any(k in params and params[k] not in HIRES_FILLER for k in HIRES_KEYS)


def override_entries(params: Mapping[str, Any], option_keys: Mapping[str, str], current: Mapping[str, Any],
                     coerce: Callable[[str, Any], Any], *, allow_checkpoint: bool = False,
                     skip_keys: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """(`["Clip skip: 2", ...]`, warnings): settings named by the infotext that differ from now."""
    entries: list[str] = []
    warnings: list[str] = []
    for info_key, option in option_keys.items():
        if info_key not in params or info_key in skip_keys:
            continue
        if option == "sd_model_checkpoint" and not allow_checkpoint:
            continue
        raw = params[info_key]
        try:
            value = coerce(option, raw)
        except ValueError as e:
            warnings.append(f"{info_key}: {raw!r} cannot be used ({e})")
            continue
        if value != current.get(option):
            entries.append(f"{info_key}: {raw}")
    return entries, warnings


def paste_values(params: Mapping[str, Any], *, fields: Sequence[PasteField] = TXT2IMG_PASTE_FIELDS,
                 resolve_sampler: SamplerResolver | None = None) -> PasteResult:
    """The form values an infotext names (absent keys are left out, so those widgets keep theirs)."""
    result = PasteResult()
    for f in fields:
        if f.key not in params:
            continue
        try:
            raw = params[f.key]
            result.values[f.field] = f.convert(raw) if f.convert is not None else convert(f.kind, raw)
        except (TypeError, ValueError):
            result.warnings.append(f"{f.key}: {params[f.key]!r} is not a valid {f.kind}; left unchanged")
    _sampler_fields(params, resolve_sampler, result)
    if any(f.field == "hr_scale" for f in fields) and any(k in params for k in HIRES_KEYS):
        result.values["enable_hr"] = hires_used(params)
    if any(f.field == "refiner_checkpoint" for f in fields) and "Refiner" in params:
        result.values["enable_refiner"] = True
    return result


def checkpoint_mismatch(params: Mapping[str, Any], loaded_names: Sequence[str],
                        loaded_title: str) -> str | None:
    """A warning when the infotext names a checkpoint (hash or name) that is not the loaded one.

    `loaded_names` are every alias of the loaded checkpoint (title, stem, short hashes).
    """
    want_hash, want_name = params.get("Model hash"), params.get("Model")
    if not want_hash and not want_name:
        return None
    names = {n.lower() for n in loaded_names if n}
    if want_hash and str(want_hash).lower() in names:
        return None
    if not want_hash and str(want_name).lower() in names:
        return None
    shown = f"{want_name} [{want_hash}]" if want_name and want_hash else str(want_name or want_hash)
    return (f"this image was made with checkpoint {shown}, but {loaded_title or 'no checkpoint'} is loaded: "
            "pick that checkpoint in the list at the top to reproduce the image")
