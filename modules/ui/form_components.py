"""`modules.ui_components` for extensions: A1111's layout helpers on gradio 6.

FormRow/FormColumn/FormGroup are plain Row/Column/Group (A1111's only add a CSS class), made by
factories; InputAccordion is an accordion whose value is its checkbox.
ToolButton is a real `gr.Button` subclass because extensions subclass it (`class ARButton(ToolButton)`
with their own `__init__`); gradio writes a `.pyi` stub beside the source file of every component
subclass, which an installed app must not do (nor into an extension's folder), so ToolButton and
every subclass of it are made by a metaclass that skips that stub.
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


class _NoStubMeta(type(gr.Button)):  # type: ignore[misc]
    """gradio's component metaclass without the `.pyi` stub it writes for each new subclass."""

    def __new__(mcs, name: str, bases: tuple[type, ...], attrs: dict[str, Any]) -> Any:
        import gradio.component_meta as meta

        real = meta.create_or_modify_pyi
        meta.create_or_modify_pyi = lambda *args, **kwargs: None
        try:
            return super().__new__(mcs, name, bases, attrs)
        finally:
            meta.create_or_modify_pyi = real


class ToolButton(gr.Button, metaclass=_NoStubMeta):
    """A1111's small icon button; subclasses (with their own `__init__`) stay gradio buttons."""

    def __init__(self, value: str = "", *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("size", "sm")
        kwargs.setdefault("min_width", 40)
        super().__init__(value, *args, **_classes(kwargs, "tool"))

    def get_block_name(self) -> str:
        return "button"  # the page draws it with gradio's button (also for extension subclasses)

    def get_config(self, cls: Any = None) -> dict[str, Any]:
        """gradio sends the attributes named by `cls.__init__`'s parameters to the page; a subclass's
        own `__init__(self, ratio=1.0, **kwargs)` names none of the button's (value, size, elem_id)."""
        return super().get_config(gr.Button if cls is None else cls)


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
