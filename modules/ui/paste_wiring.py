"""Widget updates for pasting an infotext into a tab, shared by PNG Info and the ↙️ button."""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr

from modules.ui.build_context import UiBuild
from modules.ui.controlnet_form import PASTE_ACCORDION, PASTE_BODY
from modules.ui.controlnet_form import PREFIX as UNIT_PREFIX
from modules.ui.paste_actions import PastePlan, plan_paste
from modules.ui.progress_view import error_html, notice_html
from modules.ui.script_paste import script_values

log = logging.getLogger(__name__)


# Pasted values for these fields open the accordion that holds them, so the user sees them.
ACCORDION_FIELDS = {
    "variation_accordion": ("subseed", "subseed_strength", "seed_resize_from_w", "seed_resize_from_h"),
}

# Request fields that are also settings: pasted into a tab that does not show their widget, they
# become an Override-settings entry instead (infotext key of the setting).
SETTING_OF_FIELD = {"restore_faces": "Face restoration"}


def field_updates(plan: PastePlan, targets: dict[str, Any]) -> dict[Any, Any]:
    """`{component: new value}` for every field the infotext names; others stay untouched."""
    updates: dict[Any, Any] = {}
    for name, value in plan.values.items():
        component = targets.get(name)
        if component is None:
            continue
        updates[component] = value
    for accordion, names in ACCORDION_FIELDS.items():
        if accordion in targets and any(n in plan.values for n in names):
            updates[targets[accordion]] = gr.update(open=True)
    if PASTE_BODY in targets and any(str(n).startswith(UNIT_PREFIX) for n in plan.values):
        updates[targets[PASTE_BODY]] = gr.update(visible=True)
        updates[targets[PASTE_ACCORDION]] = gr.update(open=True)
    overrides = list(plan.overrides) + [f"{label}: {plan.values[name]}" for name, label in SETTING_OF_FIELD.items()
                                        if name in plan.values and name not in targets]
    if "override_settings" in targets:
        updates[targets["override_settings"]] = gr.update(choices=overrides, value=overrides,
                                                          visible=bool(overrides))
    return updates


def warnings_html(plan: PastePlan) -> str:
    return notice_html("Note: " + "; ".join(plan.warnings)) if plan.warnings else ""


def paste_into(ui: UiBuild, text: str, tab: str, log_box: Any) -> dict[Any, Any]:
    """All updates for pasting `text` into `tab`, plus the warnings shown in `log_box`."""
    targets = ui.paste_targets.get(tab, {})
    try:
        plan = plan_paste(ui.runtime, text)
    except Exception as e:  # noqa: BLE001 - a strange infotext must not break the page
        log.warning("paste failed: %s", e)
        return {log_box: error_html(f"Could not read the generation parameters: {e}")}
    scripts, problems = script_values(ui.script_paste.get(tab, []), plan.params)
    plan.warnings.extend(problems)
    for warning in plan.warnings:
        gr.Warning(warning)
    return {**field_updates(plan, targets), **scripts, log_box: warnings_html(plan)}


def last_generation_text(ui: UiBuild) -> str:
    """`params.txt`: the infotext of the last image made, pasted when the prompt box is empty (A1111)."""
    try:
        return ui.runtime.paths.params_file.read_text(encoding="utf-8")
    except OSError:
        return ""


def wire_paste_button(ui: UiBuild, button: Any, prompt: Any, tab: str, log_box: Any) -> None:
    """↙️: read generation parameters from the prompt box, or from the last generation if it is empty."""

    def paste(text: str) -> dict[Any, Any]:
        return paste_into(ui, text if text and text.strip() else last_generation_text(ui), tab, log_box)

    def deferred() -> None:
        outputs = [*ui.paste_targets.get(tab, {}).values(), log_box]
        button.click(paste, inputs=prompt, outputs=outputs, show_progress="hidden")

    ui.after_build.append(deferred)
