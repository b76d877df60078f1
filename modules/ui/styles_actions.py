"""Styles in the prompt row: list, apply into the prompt boxes, save or delete a style.

Styles live in `styles.csv` (name, prompt, negative_prompt) through `modules.styles.StyleDatabase`,
shared with the API and the engine, so a style saved here is usable at once everywhere. These
functions know nothing of gradio (the styles editor, `modules/ui/styles_editor.py`, turns their
errors into messages), so they are tested without a page.
"""

from __future__ import annotations

from typing import Any

from modules.styles import UnknownStyleError


def style_names(runtime: Any) -> list[str]:
    styles = getattr(runtime, "styles", None)
    if styles is None:
        return []
    return list(styles.styles)


def apply_styles(runtime: Any, prompt: str, negative: str, names: list[str]) -> tuple[str, str]:
    """Write the chosen styles into the prompts (A1111's 📋), so the styles list can be cleared."""
    if not names:
        return prompt, negative
    return runtime.styles.apply_styles(prompt, negative, list(names))


def _write_or_undo(runtime: Any, name: str, before: Any) -> None:
    """Save styles.csv; if that fails, put style `name` back as it was (`before`, None: absent),
    so the list in memory never shows a change the file does not have."""
    try:
        runtime.styles.save_styles()
    except OSError:
        if before is None:
            runtime.styles.styles.pop(name, None)
        else:
            runtime.styles.styles[name] = before
        raise


def save_style(runtime: Any, name: str, prompt: str, negative: str) -> str:
    """Save the prompts as style `name` (new, or replacing the one of that name); returns a message.

    Empty names are refused; surrounding spaces are dropped (they would make look-alike styles)."""
    name = (name or "").strip()
    if not name:
        raise ValueError("give the style a name first")
    before = runtime.styles.styles.get(name)
    runtime.styles.set_style(name, prompt or "", negative or "")
    _write_or_undo(runtime, name, before)
    return f"Updated style {name!r}" if before is not None else f"Saved style {name!r}"


def delete_style(runtime: Any, name: str) -> str:
    """Remove style `name` from memory and from its styles file; returns a message."""
    name = (name or "").strip()
    if not name:
        raise ValueError("choose the style to delete first")
    before = runtime.styles.styles.get(name)
    if before is None:
        raise UnknownStyleError(f"there is no style named {name!r}")
    runtime.styles.delete_style(name)
    _write_or_undo(runtime, name, before)
    return f"Deleted style {name!r}"
