"""The `__import__` extension code runs with: `modules.X` resolves to facade X, nothing else.

Why not sys.modules: our own package is also called `modules` (with `modules.scripts`,
`modules.paths`, `modules.images` of its own), so the facades must not replace anything there.
Each extension module gets its own builtins whose `__import__` answers `modules` and
`modules.<facade>`, and loads the extension's own files by their top-level name (own_packages.py);
other imports (gradio, json, installed packages) are untouched.
"""

from __future__ import annotations

import builtins
import types
from collections.abc import Callable
from typing import Any

from modules.extensions.facades.own_packages import OwnPackages

PROVIDED = ("scripts", "script_callbacks", "shared", "processing", "ui_components", "paths", "images",
            "extension_api", "extra_networks",
            "ui_extra_networks", "sd_hijack")


class MissingInternal(AttributeError):
    """An extension asked for a name the extension API does not provide (AttributeError, so
    `getattr(x, name, default)` and `hasattr` keep working)."""


def missing(owner: str, name: str) -> MissingInternal:
    return MissingInternal(
        f"{owner}.{name} is not provided to extensions by this app; the supported names are listed in "
        "docs/EXTENSIONS.md")


class FacadeModule(types.ModuleType):
    """A facade module: unknown attributes raise a message naming the missing name."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise missing(self.__name__, name)


class ModulesView(FacadeModule):
    """What `import modules` gives extension code: only the facades as attributes."""

    def __init__(self, facades: dict[str, Callable[[], types.ModuleType]]) -> None:
        super().__init__("modules", "A1111-compatible modules provided to extensions")
        self._factories = facades

    def __getattr__(self, name: str) -> Any:
        if name in self._factories:
            module = self._factories[name]()
            setattr(self, name, module)
            return module
        return super().__getattr__(name)


def facade_import(view: ModulesView, own: OwnPackages | None = None) -> Callable[..., Any]:
    """An `__import__` that resolves `modules...` through `view` and the extension's own files
    through `own`."""
    real = builtins.__import__

    def _import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
        package = (globals or {}).get("__package__")
        if own is not None and level > 0 and own.owns_package(package):
            return own.import_(own.absolute(package, name, level), fromlist)
        if own is not None and level == 0 and own.owns(name):
            return own.import_(name, fromlist)
        if level != 0 or not (name == "modules" or name.startswith("modules.")):
            return real(name, globals, locals, fromlist, level)
        parts = name.split(".")
        if len(parts) > 2:
            raise ImportError(str(missing("modules", ".".join(parts[1:]))), name=name)
        target: Any = view
        if len(parts) == 2:
            try:
                target = getattr(view, parts[1])
            except AttributeError as e:
                raise ImportError(str(e), name=name) from None
        for item in fromlist or ():
            if item != "*" and not hasattr(target, item):
                raise ImportError(str(missing(name, item)), name=name)
        return target if fromlist else view

    return _import


def facade_builtins(view: ModulesView, own: OwnPackages | None = None) -> dict[str, Any]:
    namespace = dict(builtins.__dict__)
    namespace["__import__"] = facade_import(view, own)
    if own is not None and not own.namespace:
        own.namespace = namespace  # the extension's own modules import the same way
    return namespace
