"""Small square icon buttons (A1111's ToolButton): 🔄, 🎲️, ♻️, 💾 and the like, drawn as SVG
pictures (modules/ui/icon_css.py) so they show without an emoji font."""

from __future__ import annotations

from typing import Any

import gradio as gr

from modules.ui.icon_css import icon_class


def tool_button(icon: str, elem_id: str, **kw: Any) -> Any:
    """An icon button; its tooltip comes from javascript/ui.js (gradio buttons have no title)."""
    classes = ["sdui-tool", *icon_class(icon), *kw.pop("elem_classes", [])]
    return gr.Button(icon, elem_id=elem_id, elem_classes=classes, size="sm", min_width=40, **kw)
