"""The `infotext` request field: values of a pasted infotext fill what the client did not send.

A1111 applies the UI's paste rules to API requests: every request field the client left out
takes the infotext's value, and settings named in the infotext ("Clip skip: 2") become
`override_settings` unless the client overrode them itself or they equal the current value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from modules.api.errors import ApiError
from modules.engine.request_fields import RequestField, api_paste_fields
from modules.infotext import parse_generation_parameters
from modules.settings.schema import infotext_to_option_keys
from modules.settings.store import SettingsError, SettingsStore

HIRES_KEYS = ("Hires upscale", "Hires upscaler", "Hires resize-1")
# Options that never come from a pasted infotext here: the checkpoint is matched by hash
# separately, and VAE files are not supported yet.
SKIPPED_OPTIONS = ("sd_model_checkpoint", "sd_vae")


def style_extractor(styles: Any) -> Callable[[str, str], tuple[list[str], str, str]] | None:
    """The style database's extractor: (found, prompt, negative), as the infotext reader wants."""
    return getattr(styles, "extract_styles_from_prompt", None)


def parse_infotext(text: str, settings: SettingsStore, styles: Any = None) -> dict[str, Any]:
    """Read an infotext with the app's style rules (setting `infotext_styles`)."""
    return parse_generation_parameters(text, extract_styles=style_extractor(styles),
                                       styles_mode=str(settings.get("infotext_styles", "Apply if any")))


def _converted(pf: RequestField, value: Any) -> Any:
    try:
        return pf.to_value(value)
    except (TypeError, ValueError) as e:
        raise ApiError(422, f"infotext: {pf.infotext} has value {value!r}, which does not fit "
                            f"the request field {pf.attr!r}; fix or remove it in the infotext") from e


def request_values(params: Mapping[str, Any], mode: str, already_set: set[str],
                   fields: tuple[RequestField, ...] | None = None) -> dict[str, Any]:
    """Request fields taken from the parsed infotext, skipping those the client sent. `fields`:
    the field table (the built-in one when None)."""
    values: dict[str, Any] = {}
    for pf in api_paste_fields("img2img" if mode == "img2img" else "txt2img", fields):
        if pf.attr in already_set or pf.infotext not in params or params[pf.infotext] is None:
            continue
        values[pf.attr] = _converted(pf, params[pf.infotext])
    hires = "Denoising strength" in params and any(k in params for k in HIRES_KEYS)
    if mode == "txt2img" and "enable_hr" not in already_set and hires:
        values["enable_hr"] = True
    if "mask_blur" in values:
        values["mask_blur_x"] = values["mask_blur_y"] = values.pop("mask_blur")
    return values


def settings_values(params: Mapping[str, Any], settings: SettingsStore, explicit: Mapping[str, Any],
                    find_checkpoint: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """Settings the infotext names that differ from the stored ones and the client did not override."""
    current = settings.snapshot()
    found: dict[str, Any] = {}
    for infotext_key, option in infotext_to_option_keys(settings.schema).items():
        if option in explicit or option in SKIPPED_OPTIONS or params.get(infotext_key) is None:
            continue
        try:
            value = settings.validate({option: params[infotext_key]})[option]
        except SettingsError:
            continue  # A1111 also skips values it cannot cast
        if value != current.get(option):
            found[option] = value
    model_hash = params.get("Model hash")
    swap_allowed = not settings.get("disable_weights_auto_swap", True)
    if model_hash and swap_allowed and find_checkpoint and "sd_model_checkpoint" not in explicit:
        info = find_checkpoint(str(model_hash))
        if info is not None and info.title != current.get("sd_model_checkpoint"):
            found["sd_model_checkpoint"] = info.title
    return found
