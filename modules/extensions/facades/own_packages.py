"""An extension's own modules and packages (`from scripts.shared_paths import X`, `import lib_mine`).

A1111 puts the extension's folder first on `sys.path` while it loads its scripts, so a script may
import the other files of its extension by their top-level name (`scripts.<file>`, or a package
beside `scripts/`). Here the folder never goes on `sys.path` (another extension or the app could
be shadowed): a top-level name that is a file or folder of the extension is loaded from it, under a
private module name per extension, and run with the same facade `__import__`, so those modules
also see `modules.shared` and friends as facades (never the app's own `modules`).
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any


class OwnPackages:
    """The importable files of one extension folder; `namespace` is the builtins they run with."""

    def __init__(self, root: Path, prefix: str) -> None:
        self.root, self.prefix = root, prefix
        self.namespace: dict[str, Any] = {}

    def owns(self, name: str) -> bool:
        top = name.split(".")[0]
        return bool(top) and top.isidentifier() and (
            (self.root / f"{top}.py").is_file() or (self.root / top).is_dir())

    def owns_package(self, package: str | None) -> bool:
        return bool(package) and (package == self.prefix or str(package).startswith(self.prefix + "."))

    def absolute(self, package: str, name: str, level: int) -> str:
        """A relative import (`from .x import y`) inside one of this extension's modules."""
        parts = package[len(self.prefix) + 1:].split(".") if package != self.prefix else []
        if level - 1 > len(parts) or (level - 1 == len(parts) and not name):
            raise ImportError("attempted relative import beyond the extension's folder")
        base = parts[:len(parts) - (level - 1)]
        return ".".join([*base, name] if name else base)

    def import_(self, name: str, fromlist: Any) -> types.ModuleType:
        """What `__import__` returns: the top module, or with a fromlist the named one (and its
        submodules that the fromlist names)."""
        module = self._load(name)
        if not fromlist:
            return sys.modules[f"{self.prefix}.{name.split('.')[0]}"]
        for item in fromlist:
            if item != "*" and not hasattr(module, item) and hasattr(module, "__path__"):
                sub = Path(module.__path__[0])
                if (sub / f"{item}.py").is_file() or (sub / item).is_dir():
                    self._load(f"{name}.{item}")
        return module

    def _load(self, dotted: str) -> types.ModuleType:
        parts, folder, parent = dotted.split("."), self.root, None
        for i, part in enumerate(parts):
            key = f"{self.prefix}.{'.'.join(parts[:i + 1])}"
            module = sys.modules.get(key) or self._exec(key, folder, part, dotted)
            if parent is not None:
                setattr(parent, part, module)
            parent, folder = module, folder / part
        return parent  # type: ignore[return-value]

    def _exec(self, key: str, folder: Path, part: str, dotted: str) -> types.ModuleType:
        module = types.ModuleType(key)
        module.__dict__["__builtins__"] = self.namespace
        if (folder / part).is_dir():
            module.__path__ = [str(folder / part)]  # type: ignore[attr-defined]
            module.__package__ = key
            file = folder / part / "__init__.py"
        elif (folder / f"{part}.py").is_file():
            module.__package__ = key.rpartition(".")[0]
            file = folder / f"{part}.py"
        else:
            raise ModuleNotFoundError(f"No module named {dotted!r} in the extension's folder", name=dotted)
        module.__file__ = str(file)
        sys.modules[key] = module  # before running it: circular imports find it, as in Python
        try:
            if file.is_file():
                exec(compile(file.read_text(encoding="utf-8"), str(file), "exec"), module.__dict__)  # noqa: S102
        except BaseException:
            sys.modules.pop(key, None)
            raise
        return module
