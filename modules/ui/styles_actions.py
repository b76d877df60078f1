"""Styles in the prompt row: list, apply into the prompt boxes, save the current prompts as a style.

Styles live in `styles.csv` (name, prompt, negative_prompt) through `modules.styles.StyleDatabase`,
shared with the API and the engine, so a style saved here is usable at once everywhere.
"""

from __future__ import annotations

from typing import Any


def style_names(runtime: Any) -> list[str]:
    styles = getattr(runtime, "styles", None)
    if styles is None:
        return []
    return list(styles.styles)


def apply_styles(runtime: Any, prompt: str, negative: str, names: list[str]) -> tuple[str, str]:
    """Write the chosen styles into the prompts (A1111's 🖌️), so the styles list can be cleared."""
    if not names:
        return prompt, negative
    return runtime.styles.apply_styles(prompt, negative, list(names))


def save_style(runtime: Any, name: str, prompt: str, negative: str) -> str:
    """Save the prompts as style `name`; returns a message. Empty names are refused."""
    name = (name or "").strip()
    if not name:
        raise ValueError("give the style a name first")
    runtime.styles.set_style(name, prompt or "", negative or "")
    runtime.styles.save_styles()
    return f"Saved style {name!r}"
