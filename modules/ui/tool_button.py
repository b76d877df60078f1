"""Small square icon buttons (A1111's ToolButton): 🔄, 🎲️, ♻️, 💾 and the like."""

from __future__ import annotations

from typing import Any

import gradio as gr


def tool_button(icon: str, elem_id: str, **kw: Any) -> Any:
    """An icon button; its tooltip comes from javascript/ui.js (gradio buttons have no title)."""
    classes = ["sdui-tool", *kw.pop("elem_classes", [])]
    return gr.Button(icon, elem_id=elem_id, elem_classes=classes, size="sm", min_width=40, **kw)
