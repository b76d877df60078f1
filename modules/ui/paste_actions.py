"""Turn an infotext into widget updates for a tab ("Send to txt2img", the ↙️ button).

Parsing is `modules.infotext.parse_generation_parameters` (A1111's reader, reference §6);
the key→field table is `infotext_paste`; this file only connects them to the running app:
styles file, sampler names, current settings, the loaded checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modules.hooks.payloads import InfotextPaste
from modules.infotext import parse_generation_parameters
from modules.settings.schema import infotext_to_option_keys
from modules.ui.infotext_paste import (
    TXT2IMG_PASTE_FIELDS,
    PasteField,
    checkpoint_mismatch,
    override_entries,
    paste_fields,
    paste_values,
)


@dataclass
class PastePlan:
    """Values by form field, Override-settings entries, and warnings to show."""

    values: dict[str, Any] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    params: Mapping[str, Any] = field(default_factory=dict)  # the parsed infotext (extension scripts read it)


def _style_extractor(runtime: Any) -> Any:
    """The style database's extractor, in the (found, prompt, negative) order the reader wants."""
    return getattr(getattr(runtime, "styles", None), "extract_styles_from_prompt", None)


def loaded_checkpoint_names(runtime: Any) -> tuple[list[str], str]:
    """(every alias of the checkpoint in use, its title); empty when none is available."""
    try:
        info = runtime.checkpoint_for(None)
    except (LookupError, RuntimeError):
        return [], ""
    return list(info.aliases()), info.title


def parse_for_paste(runtime: Any, text: str) -> Mapping[str, Any]:
    settings = runtime.settings
    params = parse_generation_parameters(text, extract_styles=_style_extractor(runtime),
                                         styles_mode=str(settings.get("infotext_styles", "Apply if any")))
    hooks = getattr(runtime, "hooks", None)
    if hooks is not None:  # extensions may read or add fields (A1111's on_infotext_pasted)
        hooks.call("on_infotext_paste", InfotextPaste(text, params))
    return params


def plan_paste(runtime: Any, text: str) -> PastePlan:
    """Everything a paste of `text` into txt2img would change, and what it could not."""
    if not text or not text.strip():
        return PastePlan(warnings=["there is no generation information to paste"])
    params = parse_for_paste(runtime, text)
    fields = app_paste_fields(runtime)
    result = paste_values(params, fields=fields, resolve_sampler=runtime.samplers.resolve_names)
    settings = runtime.settings
    field_keys = {f.key for f in fields}
    option_keys = {k: v for k, v in infotext_to_option_keys(settings.schema).items() if k not in field_keys}
    overrides, override_warnings = override_entries(
        params, option_keys, settings.snapshot(), lambda key, value: settings.validate({key: value})[key],
        allow_checkpoint=not bool(settings.get("disable_weights_auto_swap", True)))
    names, title = loaded_checkpoint_names(runtime)
    mismatch = checkpoint_mismatch(params, names, title)
    warnings = result.warnings + override_warnings + ([mismatch] if mismatch else [])
    values = {**result.values, **controlnet_paste(runtime, params)}
    values["enable_refiner"] = "Refiner" in params  # A1111 unticks it when a whole infotext has no refiner
    warnings += checkpoint_choices(runtime, values)
    return PastePlan(values, overrides, warnings, params)


def app_paste_fields(runtime: Any) -> tuple[PasteField, ...]:
    """What a paste fills: txt2img's fields of the app's table (built-in and features' rows), and
    features' rows pasted into img2img only (a tab ignores names it has no widget for)."""
    rows = getattr(getattr(runtime, "request_fields", None), "rows", None)
    if rows is None:
        return TXT2IMG_PASTE_FIELDS
    fields = paste_fields("txt2img", rows)
    names = {f.field for f in fields}
    return fields + tuple(f for f in paste_fields("img2img", rows) if f.field not in names)


def checkpoint_choices(runtime: Any, values: dict[str, Any]) -> list[str]:
    """The infotext names checkpoints by short title ("name [hash]"); the dropdowns list titles."""
    warnings: list[str] = []
    if getattr(runtime, "checkpoints", None) is None:
        return warnings
    for name, same in (("refiner_checkpoint", ""), ("hr_checkpoint_name", "Use same checkpoint")):
        wanted = values.get(name)
        if not wanted or wanted == same:
            continue
        info = runtime.checkpoints.find(str(wanted))
        if info is None:
            what = "Refiner" if name == "refiner_checkpoint" else "Hires checkpoint"
            warnings.append(f"checkpoint {wanted!r} ({what}) is not installed here; put it into the checkpoint "
                            "folder and refresh")
            values.pop(name)
            if name == "refiner_checkpoint":
                values["enable_refiner"] = False
        else:
            values[name] = info.title
    return warnings


def controlnet_paste(runtime: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """The units a `ControlNet N` infotext entry describes (models matched to the current list)."""
    from modules.ui.controlnet_form import paste_values

    service = getattr(runtime, "controlnet", None)
    if service is None:
        return {}

    def resolve(name: str) -> str:
        try:
            return service.find_model(name).title
        except LookupError:
            return name

    return paste_values(params, int(runtime.settings.get("control_net_unit_count", 3)), resolve)
