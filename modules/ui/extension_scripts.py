"""Extension scripts on the txt2img/img2img tabs: their `ui()` below the parameters, values by name.

Each AlwaysVisible script's components become form fields named `script::<title>::<i>`; on
Generate they are gathered into `alwayson_scripts[<title>] = {"args": [...]}`, the same shape
the API takes, so the UI and the API run a script through one path.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

PREFIX = "script::"


def _components(result: Any) -> list[Any]:
    if result is None:
        return []
    if isinstance(result, dict):
        items = list(result.values())
    else:
        items = list(result) if isinstance(result, (list, tuple)) else [result]
    return [getattr(c, "checkbox", c) if type(c).__name__ == "InputAccordion" else c for c in items]


def arg_spec(component: Any) -> Any:
    from modules.extensions.host import ArgSpec

    def get(name: str) -> Any:
        return getattr(component, name, None)

    choices = get("choices")
    if choices:
        choices = [c[1] if isinstance(c, (list, tuple)) else c for c in choices]
    return ArgSpec(get("label"), get("value"), get("minimum"), get("maximum"), get("step"), choices)


def inspect_args(entry: Any) -> list[Any]:
    """A script's inputs without a page (API-only servers): build its UI in a throwaway Blocks."""
    with gr.Blocks(analytics_enabled=False):
        return [arg_spec(c) for c in _components(entry.script.ui(entry.mode == "img2img"))]


def build_script_uis(ui: Any, tab: str) -> dict[str, Any]:
    """The AlwaysVisible scripts' UIs for `tab` (isolated: a failing ui() is reported, the page goes on)."""
    host = getattr(ui.runtime, "extensions", None)
    fields: dict[str, Any] = {}
    if host is None:
        return fields
    for entry in host.scripts_for(tab):
        if not entry.alwayson:
            continue
        try:
            with gr.Group(elem_id=f"script_{tab}_{entry.key.replace(' ', '_')}"):
                components = _components(entry.script.ui(tab == "img2img"))
        except Exception as err:
            host.errors.append(f"Extension '{entry.owner}': the UI of script '{entry.title}' failed: {err}")
            continue
        entry.args = [arg_spec(c) for c in components]
        _keep_paste_fields(ui, tab, entry)
        for i, component in enumerate(components):
            fields[f"{PREFIX}{entry.key}::{i}"] = component
    return fields


def _keep_paste_fields(ui: Any, tab: str, entry: Any) -> None:
    """Remember the script's `infotext_fields` (read after `ui()`, which usually fills them)."""
    from modules.ui.script_paste import paste_fields_of

    ui.script_paste.setdefault(tab, []).extend(paste_fields_of(f"{entry.owner}/{entry.title}", entry.script))


def register_paste_targets(ui: Any, tab: str) -> None:
    """Add the scripts' pasted widgets to the tab's paste targets (call after the tab set them)."""
    from modules.ui.script_paste import paste_targets

    ui.paste_targets.setdefault(tab, {}).update(paste_targets(ui.script_paste.get(tab, [])))


def split_script_values(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(form values, alwayson_scripts) from a Generate click's named values."""
    scripts: dict[str, list[Any]] = {}
    form = {}
    for name, value in values.items():
        if not name.startswith(PREFIX):
            form[name] = value
            continue
        key, index = name[len(PREFIX):].rsplit("::", 1)
        args = scripts.setdefault(key, [])
        args.extend([None] * (int(index) + 1 - len(args)))
        args[int(index)] = value
    return form, {k: {"args": v} for k, v in scripts.items()}


SELECT_PREFIX = "selscript::"


def build_selectable_uis(ui: Any, tab: str, dropdown: Any) -> dict[str, Any]:
    """The selectable scripts of `tab`: added to the Script dropdown, each UI shown while chosen."""
    host = getattr(ui.runtime, "extensions", None)
    entries = [e for e in host.scripts_for(tab) if not e.alwayson] if host is not None else []
    fields: dict[str, Any] = {}
    if not entries:
        return fields
    groups = []
    for entry in entries:
        try:
            with gr.Group(visible=False, elem_id=f"script_{tab}_{entry.key.replace(' ', '_')}") as group:
                components = _components(entry.script.ui(tab == "img2img"))
        except Exception as err:
            host.errors.append(f"Extension '{entry.owner}': the UI of script '{entry.title}' failed: {err}")
            continue
        entry.args = [arg_spec(c) for c in components]
        _keep_paste_fields(ui, tab, entry)
        groups.append((entry.title, group))
        for i, component in enumerate(components):
            fields[f"{SELECT_PREFIX}{entry.key}::{i}"] = component
    dropdown.choices = [*dropdown.choices, *[(t, t) for t, _ in groups]]
    dropdown.change(lambda name: {g: gr.update(visible=name == t) for t, g in groups}, inputs=dropdown,
                    outputs=[g for _, g in groups], queue=False, show_progress="hidden")
    return fields


def selected_script_args(values: dict[str, Any], script_name: str | None) -> tuple[dict[str, Any], tuple[Any, ...]]:
    """(values without the selectable scripts' widgets, the chosen script's args in UI order)."""
    key = (script_name or "").strip().lower()
    args: dict[int, Any] = {}
    rest = {}
    for name, value in values.items():
        if not name.startswith(SELECT_PREFIX):
            rest[name] = value
            continue
        owner, index = name[len(SELECT_PREFIX):].rsplit("::", 1)
        if owner == key:
            args[int(index)] = value
    return rest, tuple(args[i] for i in sorted(args))


def extension_script_choice(values: dict[str, Any], builtin_titles: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """For a tab whose form knows only the built-in scripts (img2img): (the values with an extension
    script's choice and widgets taken off, `{"script_name", "script_args"}` for the request)."""
    name = values.get("script_name")
    values, args = selected_script_args(values, name)
    if not name or name == "None" or name in builtin_titles:
        return values, {}
    return {**values, "script_name": "None"}, {"script_name": name, "script_args": args}
