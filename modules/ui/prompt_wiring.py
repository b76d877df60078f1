"""Events of the prompt row: token counters, clear, and the styles buttons (apply, save)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from modules.ui.progress_view import error_html, notice_html
from modules.ui.prompt_row import PromptRow
from modules.ui.styles_actions import apply_styles, save_style, style_names
from modules.ui.token_counter import token_counter_html


def _save_style_handler(runtime: Any, name: str, prompt: str, negative: str) -> tuple[Any, Any, str]:
    try:
        message = save_style(runtime, name, prompt, negative)
    except (ValueError, OSError) as e:
        return gr.update(), gr.update(visible=True), error_html(f"Style not saved: {e}")
    return gr.update(choices=style_names(runtime)), gr.update(visible=False), notice_html(message)


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
    row.apply_styles.click(lambda p, n, s: _apply_styles_handler(runtime, p, n, s),
                           inputs=[row.prompt, row.negative_prompt, row.styles],
                           outputs=[row.prompt, row.negative_prompt, row.styles, log], show_progress="hidden")
    row.save_style.click(lambda: gr.update(visible=True), outputs=row.save_style_row, queue=False,
                         show_progress="hidden")
    row.save_style_cancel.click(lambda: gr.update(visible=False), outputs=row.save_style_row, queue=False,
                                show_progress="hidden")
    row.save_style_confirm.click(lambda name, p, n: _save_style_handler(runtime, name, p, n),
                                 inputs=[row.style_name, row.prompt, row.negative_prompt],
                                 outputs=[row.styles, row.save_style_row, log], show_progress="hidden")
