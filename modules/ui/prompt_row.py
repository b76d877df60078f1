"""The top of a generation tab: prompt and negative prompt with token counters, Generate /
Interrupt / Skip, and the styles picker with 📋 apply and 🖌️ edit (A1111 1.7+'s arrangement; the
editor dialog is `modules/ui/styles_editor.py`).

Element ids follow A1111's (`txt2img_prompt`, `txt2img_generate`, ...) so users' custom CSS
and the keyboard shortcuts in javascript/ keep working.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from modules.ui.build_context import UiBuild
from modules.ui.field_widgets import field_label
from modules.ui.styles_actions import style_names
from modules.ui.styles_editor import StylesEditor, build_styles_editor
from modules.ui.token_counter import counter_text, token_counter_html
from modules.ui.tool_button import tool_button

PROMPT_PLACEHOLDER = "Prompt\n(Press Ctrl+Enter to generate, Alt+Enter to skip, Esc to interrupt)"
NEGATIVE_PLACEHOLDER = "Negative prompt\n(Press Ctrl+Enter to generate, Alt+Enter to skip, Esc to interrupt)"


@dataclass
class PromptRow:
    prompt: Any
    negative_prompt: Any
    prompt_counter: Any
    negative_counter: Any
    generate: Any
    interrupt: Any
    skip: Any
    paste: Any
    clear: Any
    styles: Any
    apply_styles: Any
    styles_editor: StylesEditor


def _prompt_box(ui: UiBuild, tab: str, name: str, label: str, placeholder: str) -> tuple[Any, Any]:
    """The box starts at ui-config's `{tab}/{label}/value` (A1111's key; "" by default)."""
    key = f"{tab}/{label}/value"
    with gr.Column(elem_classes=["sdui-prompt-box"]):
        box = ui.track(key, gr.Textbox(value=ui.ui_config.value(key, ""), label=label, show_label=False, lines=3,
                                       max_lines=20, placeholder=placeholder, elem_id=f"{tab}_{name}",
                                       elem_classes=["prompt"]))
        start = box.value or ""
        count = token_counter_html(ui.runtime, start, is_positive=name == "prompt") if start else counter_text(0, 75)
        counter = gr.HTML(count, elem_id=f"{tab}_{name}_token_counter", elem_classes=["token-counter"])
    return box, counter


def _buttons(tab: str) -> tuple[Any, Any, Any]:
    with gr.Row(elem_id=f"{tab}_generate_box", elem_classes=["generate-box"]):
        interrupt = gr.Button("Interrupt", elem_id=f"{tab}_interrupt", variant="stop", size="sm")
        skip = gr.Button("Skip", elem_id=f"{tab}_skip", size="sm")
        generate = gr.Button("Generate", elem_id=f"{tab}_generate", variant="primary")
    return generate, interrupt, skip


def build_prompt_row(ui: UiBuild, tab: str) -> PromptRow:
    with gr.Row(elem_id=f"{tab}_toprow", equal_height=False):
        with gr.Column(scale=6, elem_id=f"{tab}_prompt_container"):
            prompt, prompt_counter = _prompt_box(ui, tab, "prompt", field_label("prompt"), PROMPT_PLACEHOLDER)
            negative, negative_counter = _prompt_box(ui, tab, "neg_prompt", field_label("negative_prompt"),
                                                     NEGATIVE_PLACEHOLDER)
        with gr.Column(scale=2, min_width=240, elem_id=f"{tab}_actions_column"):
            generate, interrupt, skip = _buttons(tab)
            with gr.Row(elem_id=f"{tab}_tools", elem_classes=["sdui-tools"]):
                paste = tool_button("↙️", f"{tab}_paste")
                clear = tool_button("🗑️", f"{tab}_clear_prompt")
                apply_styles = tool_button("📋", f"{tab}_style_apply")
            with gr.Row(elem_id=f"{tab}_styles_row", equal_height=True):
                styles = gr.Dropdown(choices=style_names(ui.runtime), value=[], multiselect=True,
                                     label=field_label("styles"), elem_id=f"{tab}_styles", scale=6)
                edit_styles = tool_button("🖌️", f"{tab}_styles_edit_button")
            editor = build_styles_editor(ui, tab, edit_styles, styles, prompt, negative)
    return PromptRow(prompt, negative, prompt_counter, negative_counter, generate, interrupt, skip, paste,
                     clear, styles, apply_styles, editor)
