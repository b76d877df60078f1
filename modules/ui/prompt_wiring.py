"""Events of the prompt row: token counters, clear, and 📋 apply styles (in the row and in the styles
editor; the editor wires its other buttons itself, `modules/ui/styles_editor.py`)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from modules.ui.progress_view import error_html
from modules.ui.prompt_row import PromptRow
from modules.ui.styles_actions import apply_styles
from modules.ui.token_counter import token_counter_html


def _apply_styles_handler(runtime: Any, prompt: str, negative: str,
                          names: list[str]) -> tuple[Any, Any, Any, str]:
    try:
        new_prompt, new_negative = apply_styles(runtime, prompt or "", negative or "", list(names or []))
    except (KeyError, ValueError) as e:
        return gr.update(), gr.update(), gr.update(), error_html(f"Styles not applied: {e}")
    return new_prompt, new_negative, [], ""


def _wire_counters(runtime: Any, row: PromptRow, steps: Any) -> None:
    pairs = ((row.prompt, row.prompt_counter, True), (row.negative_prompt, row.negative_counter, False))
    for box, counter, positive in pairs:
        box.change(lambda text, n, _p=positive: token_counter_html(runtime, text, n, _p), inputs=[box, steps],
                   outputs=counter, show_progress="hidden", trigger_mode="always_last", queue=False,
                   api_visibility="private")


def wire_prompt_tools(runtime: Any, row: PromptRow, log: Any, steps: Any) -> None:
    """Connect the prompt row's small buttons; messages go to the output panel's `log`.

    `steps` feeds the counters: prompt editing (`[a:b:0.5]`) makes texts that depend on it."""
    _wire_counters(runtime, row, steps)
    row.clear.click(lambda: ("", ""), outputs=[row.prompt, row.negative_prompt], queue=False,
                    show_progress="hidden")
    _wire_apply(runtime, row, log)


def _wire_apply(runtime: Any, row: PromptRow, log: Any) -> None:
    """📋 in the row and in the styles dialog do the same; the dialog's also closes the dialog."""
    def handle(prompt: str, negative: str, names: list[str]) -> tuple[Any, Any, Any, str]:
        return _apply_styles_handler(runtime, prompt, negative, names)

    inputs = [row.prompt, row.negative_prompt, row.styles]
    outputs = [row.prompt, row.negative_prompt, row.styles, log]
    row.apply_styles.click(handle, inputs=inputs, outputs=outputs, show_progress="hidden")
    dialog = row.styles_editor.dialog
    row.styles_editor.apply.click(handle, inputs=inputs, outputs=outputs, show_progress="hidden").then(
        lambda: gr.update(visible=False), outputs=dialog, queue=False, show_progress="hidden",
        api_visibility="private")
