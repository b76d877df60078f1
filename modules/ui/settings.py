"""The Settings tab: one sub-tab per section of `modules/settings/schema.py`, Apply, and Defaults.

The sections are built when the tab is first opened (`gr.render` on the tab's `select`), not
with the page: gradio's frontend creates every component of the page's config before it shows
anything, and the ~120 settings widgets cost about a quarter of a fresh page load. Widgets carry
`key`s, so switching away and back keeps values typed but not yet applied (as in A1111).

Apply validates every changed value first and saves them together (`SettingsStore.update`
writes config.json atomically), so a bad value changes nothing. Start-up warnings, such as a
corrupt config.json that was set aside, are shown at the top. The Defaults page saves the
current txt2img values to ui-config.json, which the page starts with next time.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping
from typing import Any

import gradio as gr

from modules.settings.schema import SECTIONS
from modules.ui.build_context import UiBuild
from modules.ui.option_widgets import current_checkpoint_title, option_widget
from modules.ui.progress_view import error_html, notice_html

log = logging.getLogger(__name__)

HIDDEN_SECTIONS = {"hidden"}
CHECKPOINT_KEY = "sd_model_checkpoint"


def warnings_html(warnings: list[str]) -> str:
    if not warnings:
        return ""
    items = "".join(f"<li>{html.escape(w)}</li>" for w in warnings)
    return f'<div class="sdui-warnings" role="alert"><b>Warnings</b><ul>{items}</ul></div>'


def changed_settings(runtime: Any, values: Mapping[str, Any]) -> dict[str, Any]:
    """The submitted values that differ from the stored ones, already type-checked."""
    store = runtime.settings
    clean = store.validate({k: v for k, v in values.items() if k != CHECKPOINT_KEY})
    changes = {k: v for k, v in clean.items() if store.get(k) != v}
    wanted = values.get(CHECKPOINT_KEY)
    if wanted and wanted != current_checkpoint_title(runtime):
        changes[CHECKPOINT_KEY] = wanted
    return changes


def apply_settings(runtime: Any, values: Mapping[str, Any]) -> str:
    """Save what changed; returns the message shown under Apply (errors included, never raised)."""
    if getattr(runtime.args, "freeze_settings", False):
        return error_html("Settings are frozen (--freeze-settings): nothing was changed")
    try:
        changes = changed_settings(runtime, values)
        checkpoint = changes.pop(CHECKPOINT_KEY, None)
        if checkpoint is not None:
            runtime.select_checkpoint(checkpoint)
        runtime.settings.update(changes)
    except Exception as e:  # noqa: BLE001 - a bad value must come back as a message, never a crash
        return error_html(f"Settings not saved: {e}")
    names = sorted(changes) + ([CHECKPOINT_KEY] if checkpoint is not None else [])
    if not names:
        return notice_html("Nothing changed.")
    return notice_html(f"{len(names)} setting{'s' if len(names) != 1 else ''} changed: {', '.join(names)}.")


def save_ui_defaults(ui: UiBuild, values: Mapping[str, Any]) -> str:
    try:
        changed = ui.ui_config.update(dict(values))
    except OSError as e:
        return error_html(f"Defaults not saved: {e}")
    path = ui.ui_config.path.name
    if not changed:
        return notice_html(f"Nothing changed in {path}.")
    plural = "s" if len(changed) != 1 else ""
    return notice_html(f"Saved {len(changed)} default{plural} to {path}: {', '.join(changed)}")


def _all_sections(schema: dict[str, Any]) -> dict[str, str]:
    """The built-in sections, then those extensions added (titled by their OptionInfo)."""
    sections = dict(SECTIONS)
    for option in schema.values():
        if option.section not in sections:
            sections[option.section] = option.extra.get("section_title", option.section)
    return sections


def _section_widgets(ui: UiBuild) -> dict[str, Any]:
    runtime, store = ui.runtime, ui.runtime.settings
    widgets: dict[str, Any] = {}
    for section, title in _all_sections(store.schema).items():
        keys = [k for k, o in store.schema.items() if o.section == section and k not in ui.quick]
        if not keys or section in HIDDEN_SECTIONS:
            continue
        with gr.Tab(title, id=f"settings_{section}", elem_id=f"settings_{section}"):
            for key in keys:
                widgets[key] = option_widget(runtime, key, store.schema[key], store.get(key),
                                             key=f"setting_{key}", interactive=True)
    return widgets


def _defaults_page(ui: UiBuild) -> None:
    """Saves txt2img's current widget values (read from the tracked components) to ui-config.json."""
    with gr.Tab("Defaults", id="settings_defaults", elem_id="settings_defaults"):
        gr.HTML(f"<p>Save the current values of the txt2img widgets (steps, sampler, size, CFG, batch...) "
                f"as the values the page starts with. They are kept in "
                f"<code>{ui.ui_config.path.name}</code>.</p>")
        button = gr.Button("Save current txt2img values as defaults", elem_id="ui_defaults_apply")
        message = gr.HTML(elem_id="ui_defaults_result")
    tracked = dict(ui.tracked_defaults)
    by_component = {id(c): k for k, c in tracked.items()}

    def save(values: dict[Any, Any]) -> str:
        return save_ui_defaults(ui, {by_component[id(c)]: v for c, v in values.items()})

    button.click(save, inputs=set(tracked.values()), outputs=message, show_progress="hidden")


def build_sections(ui: UiBuild) -> dict[str, Any]:
    """Apply, its message and the section sub-tabs with Defaults; returns option key -> widget."""
    runtime = ui.runtime
    frozen = bool(getattr(runtime.args, "freeze_settings", False))
    with gr.Row(elem_id="settings_top"):
        submit = gr.Button("Apply settings", variant="primary", elem_id="settings_submit",
                           interactive=not frozen, key="settings_submit")
    result = gr.HTML(elem_id="settings_result", key="settings_result")
    with gr.Tabs(elem_id="settings_tabs", overflow_behavior="wrap"):
        widgets = _section_widgets(ui)
        _defaults_page(ui)
    by_component = {id(c): k for k, c in widgets.items()}

    def apply(values: dict[Any, Any]) -> str:
        return apply_settings(runtime, {by_component[id(c)]: v for c, v in values.items()})

    submit.click(apply, inputs=set(widgets.values()), outputs=result, show_progress="minimal")
    return widgets


def build_tab(ui: UiBuild) -> None:
    """The warnings now; the sections when the tab is opened (every other tab is built by then)."""
    gr.HTML(warnings_html(ui.warnings()), elem_id="settings_warnings")
    tab = ui.tab_items.get("settings")
    if tab is None:  # built outside create_blocks' tabs: nothing to wait for
        build_sections(ui)
        return

    @gr.render(triggers=[tab.select], queue=False, show_progress="hidden")
    def _sections() -> None:
        from modules.ui.component_events import component_events

        # built when opened (every time): extensions' component callbacks hear its widgets then
        with component_events(getattr(ui.runtime, "extensions", None)):
            build_sections(ui)
