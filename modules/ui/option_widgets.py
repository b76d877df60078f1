"""One gradio widget per setting, drawn the way its `OptionInfo` says (checkbox, slider, radio...).

Used by the Settings tab and by quicksettings, so a setting looks and behaves the same in
both places. Choice lists that depend on the running app (checkpoints, samplers) come from
`dynamic_choices`, so they are read when the page is built rather than frozen in the schema.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from modules.settings.schema import OptionInfo

VAE_BUILTIN_CHOICES = ["Automatic", "None"]


def checkpoint_titles(runtime: Any) -> list[str]:
    return [c.title for c in runtime.checkpoints.list()]


def current_checkpoint_title(runtime: Any) -> str | None:
    """The checkpoint jobs will use now, or None when there is none (or the setting names a lost file)."""
    try:
        return runtime.checkpoint_for(None).title
    except (LookupError, RuntimeError):
        return None


def vae_choices(runtime: Any) -> list[str]:
    """"Automatic" and "None", then the VAE files in models/VAE (+ --vae-dir)."""
    selector = getattr(getattr(runtime, "networks", None), "vae", None)
    names = selector.names() if selector is not None else []
    return VAE_BUILTIN_CHOICES + [n for n in names if n not in VAE_BUILTIN_CHOICES]


def dynamic_choices(runtime: Any, key: str) -> list[str] | None:
    if key == "sd_model_checkpoint":
        return checkpoint_titles(runtime)
    if key == "sd_vae":
        return vae_choices(runtime)
    if key == "hide_samplers":
        return [s.name for s in runtime.samplers.list()]
    if key in ("quicksettings_list", "extra_options_txt2img", "extra_options_img2img"):
        return sorted(runtime.settings.schema)
    return None


def widget_kind(info: OptionInfo) -> str:
    """The schema's component, or one inferred from the default's type for "auto"."""
    if info.component != "auto":
        return info.component
    if isinstance(info.default, bool):
        return "checkbox"
    if isinstance(info.default, (int, float)):
        return "number"
    if isinstance(info.default, list) or info.choices:
        return "dropdown"
    return "textbox"


def widget_value(runtime: Any, key: str, value: Any) -> Any:
    """What the widget shows for a stored value (checkpoint names become their current title)."""
    if key == "sd_model_checkpoint":
        return current_checkpoint_title(runtime)
    return value


def option_widget(runtime: Any, name: str, info: OptionInfo, value: Any, **kw: Any) -> Any:
    """Build the widget for option `name` showing `value`; `kw` goes to the gradio constructor."""
    kind = widget_kind(info)
    label = info.label + (" (requires restart)" if info.needs_restart else "")
    kw.setdefault("elem_id", f"setting_{name}")
    value = widget_value(runtime, name, value)
    if kind == "checkbox":
        return gr.Checkbox(value=bool(value), label=label, **kw)
    if kind == "slider":
        return gr.Slider(minimum=info.minimum or 0, maximum=info.maximum or 100, step=info.step or 1,
                         value=value, label=label, **kw)
    if kind == "number":
        return gr.Number(value=value, label=label, **kw)
    if kind == "radio":
        return gr.Radio(choices=list(info.choices or ()), value=value, label=label, **kw)
    if kind == "dropdown":
        choices = dynamic_choices(runtime, name) or list(info.choices or ())
        multi = isinstance(info.default, list)
        if not multi and value is not None and value not in choices:
            choices = [*choices, value]
        return gr.Dropdown(choices=choices, value=value, label=label, multiselect=multi, **kw)
    return gr.Textbox(value="" if value is None else str(value), label=label, **kw)
