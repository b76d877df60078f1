"""Pasting an infotext into extension scripts' widgets (A1111's `Script.infotext_fields`).

A script lists `(component, infotext key)` pairs, or `(component, fn)` where `fn(params)` returns
the value (None: leave the widget alone). The ↙️ button, PNG Info's "Send to txt2img" and "Send to
img2img" fill those widgets from the same parsed parameters as the built-in fields (after the
`on_infotext_paste` hooks, so keys an extension adds there can be pasted too).

Values are typed like the widget's current value, as A1111 does ("False" -> False for checkboxes,
"0.5" -> a number for sliders); a value that does not fit leaves the widget unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

TARGET_PREFIX = "scriptpaste::"


@dataclass(frozen=True)
class ScriptPasteField:
    """One widget of a script and where its pasted value comes from."""

    owner: str  # "<extension>/<script title>", for messages
    component: Any
    source: Any  # an infotext key (str) or a callable taking the parsed parameters
    copied: bool = False  # its key is in the script's `paste_field_names`: "Send to" copies the widget


def paste_fields_of(owner: str, script: Any) -> list[ScriptPasteField]:
    """The script's `infotext_fields`; an InputAccordion stands for its checkbox (its value)."""
    found = []
    copied = set(getattr(script, "paste_field_names", None) or [])
    for pair in getattr(script, "infotext_fields", None) or []:
        try:
            component, source = pair
        except (TypeError, ValueError):
            log.warning("%s: infotext_fields entry %r is not a (component, key) pair; skipped", owner, pair)
            continue
        component = getattr(component, "checkbox", component) if type(component).__name__ == "InputAccordion" \
            else component
        found.append(ScriptPasteField(owner, component, source, isinstance(source, str) and source in copied))
    return found


def typed_like(current: Any, value: Any) -> Any:
    """`value` (usually a string from the infotext) as the type of the widget's current value."""
    if isinstance(current, bool):
        return value if isinstance(value, bool) else str(value).strip().lower() == "true"
    if isinstance(current, int):
        number = float(value)
        return int(number) if number.is_integer() else number
    if isinstance(current, float):
        return float(value)
    if isinstance(current, (list, tuple)) and isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if current is None or isinstance(current, str):
        return value if isinstance(value, (list, tuple)) else str(value)
    return type(current)(value)


def script_values(fields: Sequence[ScriptPasteField], params: Mapping[str, Any]) -> tuple[dict[Any, Any], list[str]]:
    """({component: value} for every field the parameters name, problems to show)."""
    updates: dict[Any, Any] = {}
    problems: list[str] = []
    for f in fields:
        try:
            value = f.source(params) if callable(f.source) else params.get(f.source)
        except Exception as err:  # an extension's function must not break the paste
            problems.append(f"{f.owner}: reading its pasted value failed ({type(err).__name__}: {err})")
            continue
        if value is None:
            continue
        if isinstance(value, dict) and "__type__" in value:  # a gr.update(...) from the function
            updates[f.component] = value
            continue
        try:
            updates[f.component] = typed_like(getattr(f.component, "value", None), value)
        except (TypeError, ValueError):
            key = f.source if isinstance(f.source, str) else getattr(f.component, "label", "a field")
            problems.append(f"{f.owner}: {key} = {value!r} does not fit its field; left unchanged")
    return updates, problems


def paste_targets(fields: Sequence[ScriptPasteField]) -> dict[str, Any]:
    """Names under which the scripts' pasted widgets join a tab's paste targets (the outputs of every
    paste event of that tab)."""
    unique = list(dict.fromkeys(f.component for f in fields))
    return {f"{TARGET_PREFIX}{i}": component for i, component in enumerate(unique)}


def copy_pairs(source: Sequence[ScriptPasteField], target: Sequence[ScriptPasteField]) -> list[tuple[Any, Any]]:
    """(source widget, target widget) for A1111's `paste_field_names`: a gallery's "Send to" copies those
    widgets of the source tab's scripts into the target tab's widgets of the same infotext key."""
    by_key = {f.source: f.component for f in target if isinstance(f.source, str)}
    return [(f.component, by_key[f.source]) for f in source if f.copied and f.source in by_key]
