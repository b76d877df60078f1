"""The "Refiner" accordion of txt2img and img2img (A1111 1.10's labels and element ids).

Ticking "Refiner" and choosing a checkpoint makes that checkpoint finish the sampling from
"Switch at" (the fraction of sampling done; 1 = never). The request fields are A1111's
`refiner_checkpoint` and `refiner_switch_at`; the engine side is modules/refiner.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from modules.ui.build_context import UiBuild
from modules.ui.field_widgets import field_label, table_slider

SWITCH_INFO = ("fraction of sampling steps when the switch to refiner model should happen; 1=never, "
               "0.5=switch in the middle of generation")


def checkpoint_titles(runtime: Any) -> list[str]:
    """Every installed checkpoint's title, as the checkpoint list at the top shows them."""
    try:
        return [c.title for c in runtime.checkpoints.list()]
    except (AttributeError, LookupError):
        return []


def build_refiner_accordion(ui: UiBuild, tab: str) -> dict[str, Any]:
    """The accordion's widgets by form field name (`enable_refiner`, `refiner_checkpoint`, `refiner_switch_at`)."""
    cfg = ui.ui_config
    titles = ["", *checkpoint_titles(ui.runtime)]
    prefix = f"script_{tab}_refiner"  # A1111's built-in script ids (ScriptRefiner.elem_id)
    with gr.Accordion("Refiner", open=False, elem_id=f"{prefix}_enable"):
        enable = ui.track(f"{tab}/Refiner/value", gr.Checkbox(
            value=cfg.value(f"{tab}/Refiner/value", False), label="Refiner", elem_id=f"{prefix}_enable-checkbox"))
        with gr.Row():
            checkpoint = gr.Dropdown(titles, value="", label=field_label("refiner_checkpoint"),
                                     info="(use model of same architecture)",
                                     elem_id=f"{prefix}_checkpoint", allow_custom_value=True)
            switch = table_slider(ui, tab, "refiner_switch_at", "switch_at", elem_id=f"{prefix}_switch_at",
                                  info=SWITCH_INFO)
    return {"enable_refiner": enable, "refiner_checkpoint": checkpoint, "refiner_switch_at": switch}


def check_pass_checkpoints(runtime: Any, req: Any) -> None:
    """Before queueing: the refiner and hires checkpoints exist and fit the selected one (the same
    check as the API's; the message shows beside the form)."""
    from modules.refiner.switcher import check_request_checkpoints

    try:
        selected = runtime.checkpoint_for((req.override_settings or {}).get("sd_model_checkpoint"))
    except (LookupError, RuntimeError):
        return  # no checkpoint at all: the job itself says so
    check_request_checkpoints(runtime, req, selected, ui=True)
