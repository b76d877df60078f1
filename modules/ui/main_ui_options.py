"""Settings shown in the txt2img/img2img tabs (A1111's "Settings in UI" / extra options section).

The settings `extra_options_txt2img` and `extra_options_img2img` name settings whose widgets the
tab shows (A1111 draws them the same way as in Settings, `extra_options_cols` per row, optionally
in an accordion). Their values apply to one generation only: `face_restoration` ("Restore faces")
becomes the request's `restore_faces`, every other one an override setting (unless the request
already overrides it). A pasted infotext's "Face restoration" ticks the checkbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gradio as gr

from modules.engine.request import GenerationRequest
from modules.engine.validation import InvalidRequestError
from modules.ui.build_context import UiBuild
from modules.ui.option_widgets import option_widget

PREFIX = "main_ui_option:"
# settings that are request fields of their own (the field table's name for them)
REQUEST_FIELD_OF = {"face_restoration": "restore_faces"}


def shown_options(runtime: Any, tab: str) -> list[str]:
    """The option keys the setting names for `tab` that exist (unknown names are skipped)."""
    keys = runtime.settings.get(f"extra_options_{tab}") or []
    return [k for k in keys if k in runtime.settings.schema]


def build_main_ui_options(ui: UiBuild, tab: str) -> dict[str, Any]:
    """The widgets, by `PREFIX + option key`; nothing when the setting names none."""
    runtime = ui.runtime
    keys = shown_options(runtime, tab)
    if not keys:
        return {}
    cols = max(1, int(runtime.settings.get("extra_options_cols", 1) or 1))
    widgets: dict[str, Any] = {}
    outer = (gr.Accordion("Options", open=False, elem_id=f"{tab}_settings_accordion")
             if runtime.settings.get("extra_options_accordion", False)
             else gr.Group(elem_id=f"{tab}_extra_options"))
    with outer:
        for start in range(0, len(keys), cols):
            with gr.Row():
                for key in keys[start:start + cols]:
                    info = runtime.settings.schema[key]
                    widgets[PREFIX + key] = option_widget(runtime, key, info, runtime.settings.get(key),
                                                          elem_id=f"{tab}_setting_{key}")
    return widgets


def paste_targets(widgets: Mapping[str, Any]) -> dict[str, Any]:
    """The request fields these widgets stand for, for pasting infotexts ("restore_faces" -> checkbox)."""
    return {field: widgets[PREFIX + key] for key, field in REQUEST_FIELD_OF.items() if PREFIX + key in widgets}


def split_main_ui_options(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the other values, {option key: value}) of a tab's handler arguments."""
    rest = {k: v for k, v in values.items() if not k.startswith(PREFIX)}
    options = {k[len(PREFIX):]: v for k, v in values.items() if k.startswith(PREFIX)}
    return rest, options


def apply_main_ui_options(runtime: Any, req: GenerationRequest, options: Mapping[str, Any]) -> GenerationRequest:
    """`req` with the tab's shown settings applied to this generation only; restoring faces without the
    restorer or the detector installed is refused here (a message naming the file and folder)."""
    from modules.restore_faces.feature import check_restorer_ready

    req = _with_options(runtime, req, options)
    check_restorer_ready(req, runtime.settings.view(req.override_settings), getattr(runtime, "faces", None))
    return req


def _with_options(runtime: Any, req: GenerationRequest, options: Mapping[str, Any]) -> GenerationRequest:
    if not options:
        return req
    try:
        typed = runtime.settings.validate(dict(options))
    except ValueError as e:
        raise InvalidRequestError(f"settings shown in the tab: {e}") from e
    fields = {REQUEST_FIELD_OF[k]: bool(v) for k, v in typed.items() if k in REQUEST_FIELD_OF}
    overrides = {k: v for k, v in typed.items() if k not in REQUEST_FIELD_OF and k not in req.override_settings}
    if overrides:
        fields["override_settings"] = {**req.override_settings, **overrides}
    return req.with_changes(**fields)
