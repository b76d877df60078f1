"""A1111's component callbacks: `before_component` / `after_component` for every widget of the page.

Extensions find our widgets by A1111's element ids (`txt2img_prompt`, `img2img_steps`, ...): they
keep a reference in `after_component` and wire events to it later (in `ui()`), or add their own
widgets right after one of ours (what they build in the callback lands beside it, as in A1111).

Why a metaclass hook and not a list walk after the build: the callbacks must run while the page
is being laid out (before the next widget exists), exactly when gradio constructs each component.
Every gradio component and layout block is made through `ComponentMeta`; its `__call__` is wrapped
once (pass-through unless a page build is listening in this context), and the listener of the
build in progress lives in a `ContextVar`, so nothing is kept at module level between builds.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from gradio.component_meta import ComponentMeta


@dataclass
class ComponentListener:
    """The page build's link to the extension host; `tab` is the generation tab being built
    ("txt2img"/"img2img": its scripts get the calls) or None (only the global callbacks)."""

    host: Any
    tab: str | None = None

    def before(self, component: Any, kwargs: dict[str, Any]) -> None:
        self.host.component_event("before", component, kwargs, self.tab)

    def after(self, component: Any, kwargs: dict[str, Any]) -> None:
        self.host.component_event("after", component, kwargs, self.tab)


_LISTENER: ContextVar[ComponentListener | None] = ContextVar("sdui_component_listener", default=None)
_MARK = "_sdui_component_events"


def _listening_call(cls: Any, *args: Any, **kwargs: Any) -> Any:
    """`ComponentMeta.__call__`: build the component, telling the listener before and after."""
    listener = _LISTENER.get()
    if listener is None:
        return type.__call__(cls, *args, **kwargs)
    component = cls.__new__(cls)
    listener.before(component, kwargs)
    component.__init__(*args, **kwargs)
    listener.after(component, kwargs)
    return component


setattr(_listening_call, _MARK, True)


def _install() -> None:
    """Wrap `ComponentMeta.__call__` once per process (idempotent; a pass-through when no page
    build listens)."""
    if not getattr(ComponentMeta.__dict__.get("__call__"), _MARK, False):
        ComponentMeta.__call__ = _listening_call  # type: ignore[method-assign]


@contextmanager
def component_events(host: Any) -> Iterator[ComponentListener | None]:
    """While the page is built: every component built in this context is reported to `host`.
    Yields the listener (None without extensions: nothing is called)."""
    if host is None:
        yield None
        return
    _install()
    listener = ComponentListener(host)
    token = _LISTENER.set(listener)
    try:
        yield listener
    finally:
        _LISTENER.reset(token)


@contextmanager
def scripts_of_tab(listener: ComponentListener | None, tab: str) -> Iterator[None]:
    """While a tab is built, its scripts get `before_component`/`after_component` (A1111's
    `scripts_current`); the global callbacks get every component of the page."""
    if listener is None:
        yield
        return
    previous, listener.tab = listener.tab, tab if tab in ("txt2img", "img2img") else None
    try:
        yield
    finally:
        listener.tab = previous
