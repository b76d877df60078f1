""""Send to img2img / inpaint" from the txt2img gallery and from PNG Info.

The picture lands in the target's image widget, every field its infotext names is pasted
(the same paste as PNG Info → txt2img), and the page switches to the tab and sub-tab.
Targets register themselves in `UiBuild.send_targets`; buttons are wired once all tabs exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr
from PIL import Image

from modules.ui.build_context import UiBuild
from modules.ui.img2img_form import MASK_TABS
from modules.ui.paste_wiring import paste_into
from modules.ui.progress_view import error_html
from modules.ui.script_paste import copy_pairs

SEND_TAB = "img2img"


@dataclass
class SendTarget:
    image: Any  # gr.Image or gr.ImageEditor receiving the picture
    mode_tabs: Any  # the gr.Tabs of img2img's sub-tabs
    sub_tab_id: str
    input_tab_state: Any  # gr.State naming the active sub-tab (the request reads it)
    input_tab_name: str
    inpaint_controls: Any = None  # shown only when the target sub-tab is an inpaint one


def _editor_value(widget: Any, image: Image.Image) -> Any:
    if isinstance(widget, gr.ImageEditor):
        return {"background": image, "layers": [], "composite": image}
    return image


def send_updates(ui: UiBuild, target_name: str, image: Image.Image | None, text: str,
                 status: Any) -> dict[Any, Any]:
    """Updates that put `image` and the fields of `text` into the target tab."""
    target: SendTarget = ui.send_targets[target_name]
    if image is None:
        return {status: error_html("There is no image to send.")}
    updates: dict[Any, Any] = {}
    if text:
        updates.update(paste_into(ui, text, SEND_TAB, ui.paste_logs[SEND_TAB]))
    updates.update({
        target.image: _editor_value(target.image, image.convert("RGB")),
        target.mode_tabs: gr.Tabs(selected=target.sub_tab_id),
        target.input_tab_state: target.input_tab_name,
        ui.tabs: gr.Tabs(selected=SEND_TAB),
    })
    if target.inpaint_controls is not None:
        updates[target.inpaint_controls] = gr.update(visible=target.input_tab_name in MASK_TABS)
    return updates


def wire_send_button(ui: UiBuild, button: Any, target_name: str, inputs: list[Any], status: Any,
                     pick: Callable[..., tuple[Image.Image | None, str]], source_tab: str | None = None) -> None:
    """Wire `button` once the target tab exists; `pick(*input values) -> (image, infotext)`.
    From a tab's gallery (`source_tab`), the widgets its extension scripts name in `paste_field_names`
    are copied too (A1111's way), after the infotext's fields are pasted."""

    def deferred() -> None:
        target = ui.send_targets.get(target_name)
        if target is None or SEND_TAB not in ui.paste_targets:
            return
        pairs = copy_pairs(ui.script_paste.get(source_tab, []), ui.script_paste.get(SEND_TAB, [])) \
            if source_tab else []
        outputs = [*ui.paste_targets[SEND_TAB].values(), ui.paste_logs[SEND_TAB], target.image,
                   target.mode_tabs, target.input_tab_state, ui.tabs, status, *(t for _, t in pairs)]
        if target.inpaint_controls is not None:
            outputs.append(target.inpaint_controls)

        def send(*values: Any) -> dict[Any, Any]:
            image, text = pick(*values[:len(inputs)])
            updates = send_updates(ui, target_name, image, text, status)
            if image is not None:
                updates.update({t: v for (_, t), v in zip(pairs, values[len(inputs):])})
            return updates

        button.click(send, inputs=[*inputs, *(s for s, _ in pairs)], outputs=list(dict.fromkeys(outputs)),
                     show_progress="hidden")

    ui.after_build.append(deferred)
