"""Widgets of request fields take their label, start value, bounds and choices from the field table.

The table (`modules/engine/request_fields.py`) holds each field's UI label (A1111's, which is
also the ui-config.json key: `txt2img/Sampling steps/value`) and, for sliders, A1111's start
value and bounds; radios take their choices from the row's `Choice` rule. The tabs keep their
own layout and element ids; what a widget is called and how far it slides is read here, so a
label cannot drift from the paste and validation messages built from the same row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modules.engine.field_rules import Choice
from modules.engine.request_fields import REQUEST_FIELDS, RequestField, find_field

if TYPE_CHECKING:
    from modules.ui.build_context import UiBuild

# Form fields named differently from their request field (A1111's widget names).
FORM_NAMES = {"n_iter": "batch_count", "inpainting_mask_invert": "mask_mode"}


def form_name(row: RequestField) -> str:
    """The name of the row's widget in a tab's fields (`batch_count` for `n_iter`)."""
    return FORM_NAMES.get(row.attr, row.attr)


def field_label(name: str, fields: tuple[RequestField, ...] | None = None) -> str:
    row = find_field(name, fields)
    if row.label is None:
        raise KeyError(f"request field {name!r} has no UI label in the field table")
    return row.label


def field_widget_args(name: str, tab: str | None = None,
                      fields: tuple[RequestField, ...] | None = None) -> dict[str, Any]:
    """`label`, and where the table has them `value`/`minimum`/`maximum`/`step` (a slider, with
    `tab`'s own start value) and `choices` (a radio of A1111's options), for the widget of `name`."""
    row = find_field(name, fields)
    args: dict[str, Any] = {"label": field_label(name, fields)}
    if row.slider is not None:
        args.update(row.slider.args(tab))
    choice = next((rule for rule in row.rules if isinstance(rule, Choice)), None)
    if choice is not None:
        args["choices"] = list(choice.options)
    return args


def form_labels(fields: tuple[RequestField, ...] | None = None) -> dict[str, str]:
    """Form field name -> its widget's label, for messages that point at what the user sees."""
    return {form_name(row): row.label for row in (REQUEST_FIELDS if fields is None else fields) if row.label}


def table_slider(ui: "UiBuild", tab: str, name: str, elem: str, **extra: Any) -> Any:
    """The slider of request field `name` in `tab` (element id `<tab>_<elem>` unless `extra` names
    one), its start value
    and bounds overridden by ui-config.json under `<tab>/<label>/...` as A1111 does."""
    import gradio as gr  # here: the form code imports this module's names without building widgets

    args = field_widget_args(name, tab)
    label = args["label"]
    key = f"{tab}/{label}"
    limits = ui.ui_config.slider(key, args["value"], args["minimum"], args["maximum"], args["step"])
    extra.setdefault("elem_id", f"{tab}_{elem}")
    widget = gr.Slider(label=label, **limits, **extra)
    return ui.track(f"{key}/value", widget)
