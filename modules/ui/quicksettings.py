"""The bar above the tabs: checkpoint list with refresh, then the other quicksettings (VAE, Clip skip).

Switching checkpoints goes through the job queue (it never races a running job), shows a
spinner while loading, and on failure says why and keeps the previous model selected.
Which settings appear here is the `quicksettings_list` setting, as in A1111.
"""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr

from modules.ui.build_context import UiBuild
from modules.ui.option_widgets import checkpoint_titles, current_checkpoint_title, option_widget
from modules.ui.progress_view import error_html, notice_html
from modules.ui.tool_button import tool_button

log = logging.getLogger(__name__)

CHECKPOINT_KEY = "sd_model_checkpoint"


def switch_checkpoint(runtime: Any, title: str | None) -> tuple[Any, str]:
    """(dropdown update, status html) after trying to load `title`."""
    if not title:
        return gr.update(), ""
    try:
        info = runtime.select_checkpoint(title)
    except Exception as e:  # noqa: BLE001 - a bad file must not take the UI down; say why instead
        log.warning("checkpoint switch to %s failed: %s", title, e)
        return _failed_switch(runtime, title, e)
    titles = checkpoint_titles(runtime)
    return gr.update(choices=titles, value=info.title), notice_html(f"Loaded {info.title}")


def _failed_switch(runtime: Any, title: str, error: Exception) -> tuple[Any, str]:
    """The list goes back to the model that stays loaded (the load error names it), said once."""
    kept = getattr(error, "kept", None) or current_checkpoint_title(runtime)
    reason = str(error).strip().rstrip(".")
    message = reason if reason.startswith("Could not load") else f"Could not load {title}: {reason}"
    if "stays loaded" not in message:
        message += f". Still using {kept or 'no checkpoint'}"
    return gr.update(value=kept), error_html(message + ".")


def refresh_checkpoints(runtime: Any) -> tuple[Any, str]:
    runtime.checkpoints.refresh()
    titles = checkpoint_titles(runtime)
    folder = runtime.paths.stable_diffusion_dir
    message = "" if titles else error_html(
        f"No checkpoint found: put a .safetensors file into {folder}, then press 🔄")
    return gr.update(choices=titles, value=current_checkpoint_title(runtime)), message


def update_setting(runtime: Any, key: str, value: Any) -> str:
    try:
        runtime.settings.update({key: value})
    except ValueError as e:
        return error_html(str(e))
    return ""


def _build_checkpoint(ui: UiBuild, status: Any) -> None:
    runtime = ui.runtime
    titles = checkpoint_titles(runtime)
    dropdown = gr.Dropdown(choices=titles, value=current_checkpoint_title(runtime),
                           label="Stable Diffusion checkpoint", elem_id="setting_sd_model_checkpoint")
    refresh = tool_button("🔄", "refresh_sd_model_checkpoint", scale=0)
    dropdown.input(lambda title: switch_checkpoint(runtime, title), inputs=dropdown,
                   outputs=[dropdown, status], show_progress="minimal", concurrency_limit=1,
                   concurrency_id="checkpoint")
    refresh.click(lambda: refresh_checkpoints(runtime), outputs=[dropdown, status], show_progress="minimal")
    ui.quick[CHECKPOINT_KEY] = dropdown


def _build_option(ui: UiBuild, key: str, status: Any) -> None:
    runtime = ui.runtime
    info = runtime.settings.schema.get(key)
    if info is None:
        log.warning("quicksettings_list names unknown setting %r; ignored", key)
        return
    widget = option_widget(runtime, key, info, runtime.settings.get(key))
    widget.input(lambda value, _key=key: update_setting(runtime, _key, value), inputs=widget, outputs=status,
                 show_progress="hidden")
    ui.quick[key] = widget


def build_quicksettings(ui: UiBuild) -> None:
    """The top bar; its widgets are registered in `ui.quick` by option key."""
    keys = list(ui.runtime.settings.get("quicksettings_list") or [CHECKPOINT_KEY])
    if CHECKPOINT_KEY not in keys:
        keys.insert(0, CHECKPOINT_KEY)
    with gr.Row(elem_id="quicksettings", equal_height=True):
        status = gr.HTML("", elem_id="quicksettings_status", render=False)
        for key in keys:
            if key == CHECKPOINT_KEY:
                _build_checkpoint(ui, status)
            else:
                _build_option(ui, key, status)
    status.render()
