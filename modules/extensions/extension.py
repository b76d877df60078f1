"""One extension folder: where it is, its metadata.ini, and whether it is enabled.

Discovery reads `extensions-builtin/` (shipped with the app) and `<data-dir>/extensions/`
(installed by the user); the settings keys `disabled_extensions` and `disable_all_extensions`
and the flags `--disable-all-extensions` / `--disable-extra-extensions` decide which run.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Metadata:
    """metadata.ini's [Extension] section: canonical name and what must load first."""

    canonical_name: str
    requires: tuple[str, ...] = ()

    @classmethod
    def read(cls, folder: Path) -> "Metadata":
        parser = configparser.ConfigParser()
        ini = folder / "metadata.ini"
        if ini.is_file():
            try:
                parser.read(ini, encoding="utf-8")
            except configparser.Error:
                pass
        name = parser.get("Extension", "Name", fallback=folder.name).strip() or folder.name
        requires = parser.get("Extension", "Requires", fallback="")
        return cls(name.lower(), tuple(r.strip().lower() for r in requires.split(",") if r.strip()))


@dataclass
class Extension:
    name: str  # the folder name (what A1111's tab and API show)
    path: Path
    builtin: bool
    enabled: bool
    metadata: Metadata
    errors: list[str] = field(default_factory=list)  # shown in the Installed tab and the banner

    @property
    def scripts_dir(self) -> Path:
        return self.path / "scripts"

    def script_files(self) -> list[Path]:
        """scripts/*.py in name order (A1111 loads them this way)."""
        if not self.scripts_dir.is_dir():
            return []
        return sorted(p for p in self.scripts_dir.iterdir() if p.suffix == ".py" and p.is_file())

    def javascript_files(self) -> list[Path]:
        folder = self.path / "javascript"
        return sorted(folder.glob("*.js")) if folder.is_dir() else []

    def style_file(self) -> Path | None:
        css = self.path / "style.css"
        return css if css.is_file() else None


def extension_folders(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def disabled_mode(args: Any, settings: Any) -> str:
    """"all", "extra" or "none": the flags win over the setting (as A1111)."""
    if getattr(args, "disable_all_extensions", False):
        return "all"
    if getattr(args, "disable_extra_extensions", False):
        return "extra"
    return str(settings.get("disable_all_extensions", "none") or "none")


def discover(builtin_dir: Path, user_dir: Path, args: Any, settings: Any) -> list[Extension]:
    """Every extension folder, enabled or not, in load order (requirements first)."""
    disabled = set(settings.get("disabled_extensions", []) or [])
    mode = disabled_mode(args, settings)
    found = []
    for root, builtin in ((builtin_dir, True), (user_dir, False)):
        for folder in extension_folders(root):
            off = folder.name in disabled or mode == "all" or (mode == "extra" and not builtin)
            found.append(Extension(folder.name, folder, builtin, not off, Metadata.read(folder)))
    return load_order(found)


def load_order(extensions: list[Extension]) -> list[Extension]:
    """Requirements before the extensions that need them; a missing one disables the needer."""
    by_name = {e.metadata.canonical_name: e for e in extensions if e.enabled}
    ordered: list[Extension] = []
    visiting: set[str] = set()

    def visit(ext: Extension) -> None:
        if ext in ordered or ext.metadata.canonical_name in visiting:
            return
        visiting.add(ext.metadata.canonical_name)
        for need in ext.metadata.requires:
            options = [n.strip() for n in need.split("|")]
            found = next((by_name[n] for n in options if n in by_name), None)
            if found is None and ext.enabled:
                ext.enabled = False
                ext.errors.append(f"Extension '{ext.name}' needs '{need}', which is not installed or not "
                                  "enabled; it was not loaded")
            elif found is not None:
                visit(found)
        ordered.append(ext)

    for ext in extensions:
        visit(ext)
    return ordered
