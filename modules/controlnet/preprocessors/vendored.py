"""Importing the model code that controlnet-aux ships as copied repositories, without torch.hub.

controlnet-aux keeps two upstream repositories inside its package (the MiDaS v3.1 repo that ZoeDepth
uses, and gen-efficientnet that NormalBae uses) and reaches them through `torch.hub.load(...,
source="local")`, whose code expects its folder on `sys.path` (`from midas.dpt_depth import ...`).
We import the same classes directly: the folder is on `sys.path` only while its modules are first
imported, under a lock, and no hub machinery (which can fetch repositories) is involved.
"""

from __future__ import annotations

import importlib
import sys
import threading
from pathlib import Path
from types import ModuleType

_IMPORT_LOCK = threading.Lock()  # sys.path is process-wide: one vendored import at a time


def package_folder(module_name: str, *parts: str) -> Path:
    """A folder inside an installed package (found from the package's own file)."""
    module = importlib.import_module(module_name)
    return Path(module.__file__ or "").parent.joinpath(*parts)


def import_vendored(repo: Path, module_name: str) -> ModuleType:
    """Import `module_name` from the copied repository `repo` (a top-level name inside it)."""
    with _IMPORT_LOCK:
        loaded = sys.modules.get(module_name)
        if loaded is not None and _inside(loaded, repo):
            return loaded
        if loaded is not None:
            raise ImportError(f"A different module named '{module_name}' is already imported "
                              f"({getattr(loaded, '__file__', '?')}); cannot import the one in {repo}")
        sys.path.insert(0, str(repo))
        try:
            return importlib.import_module(module_name)
        finally:
            sys.path.remove(str(repo))


def _inside(module: ModuleType, repo: Path) -> bool:
    where = getattr(module, "__file__", None) or next(iter(getattr(module, "__path__", [])), "")
    try:
        return Path(where).resolve().is_relative_to(repo.resolve())
    except (OSError, ValueError):
        return False
