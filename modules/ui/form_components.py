"""`modules.ui_components` for extensions: A1111's layout helpers on gradio 6.

FormRow/FormColumn/FormGroup are plain Row/Column/Group (A1111's only add a CSS class);
ToolButton is a small icon button; InputAccordion is an accordion whose value is its checkbox.
They are factories, not subclasses: gradio writes a `.pyi` stub beside the source file of
every component subclass, which an installed app must not do.
"""

from __future__ import annotations

from typing import Any

import gradio as gr


def _classes(kwargs: dict[str, Any], extra: str) -> dict[str, Any]:
    given = kwargs.pop("elem_classes", None) or []
    return {**kwargs, "elem_classes": [*([given] if isinstance(given, str) else given), extra]}


def FormRow(**kwargs: Any) -> gr.Row:  # noqa: N802 - A1111's name
    return gr.Row(**_classes(kwargs, "form"))


def FormColumn(**kwargs: Any) -> gr.Column:  # noqa: N802
    return gr.Column(**kwargs)


def FormGroup(**kwargs: Any) -> gr.Group:  # noqa: N802
    return gr.Group(**kwargs)


def ToolButton(value: str = "", *args: Any, **kwargs: Any) -> gr.Button:  # noqa: N802
    return gr.Button(value, *args, size="sm", min_width=40, **_classes(kwargs, "tool"))


class InputAccordion:
    """`with InputAccordion(False, label="My feature") as enabled:` — `enabled` is the checkbox
    (also when the object itself is returned from `ui()`: the page takes its checkbox)."""

    def __init__(self, value: bool = False, label: str = "", open: bool | None = None, **kwargs: Any) -> None:
        elem_id = kwargs.pop("elem_id", None)
        self.accordion = gr.Accordion(label, open=value if open is None else open,
                                      elem_id=f"{elem_id}-accordion" if elem_id else None)
        with self.accordion:
            self.checkbox = gr.Checkbox(value=value, label="Enable", elem_id=elem_id, **kwargs)

    def __enter__(self) -> gr.Checkbox:
        self.accordion.__enter__()
        return self.checkbox

    def __exit__(self, *exc: Any) -> None:
        self.accordion.__exit__(*exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.checkbox, name)


def build() -> Any:
    """The facade module extension code gets for `modules.ui_components`."""
    from modules.extensions.facades.importer import FacadeModule

    module = FacadeModule("modules.ui_components")
    for item in (FormRow, FormColumn, FormGroup, ToolButton, InputAccordion):
        setattr(module, item.__name__, item)
    return module
