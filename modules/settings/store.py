"""`config.json`: load, validate, save atomically; per-request views that never leak.

A corrupt `config.json` is moved aside (never deleted: the user's settings are theirs) and
defaults load, with a warning the UI shows. Unknown keys in the file are kept, as A1111
does, so settings of extensions not loaded this time survive a save.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from modules.settings.schema import OptionInfo, default_schema


class SettingsError(ValueError):
    """A setting got a value it cannot take; the message names the key and the fix."""


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` so that readers see either the old or the new file, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def coerce_value(key: str, info: OptionInfo, value: Any) -> Any:
    """Check and convert a value against the option's default type."""
    default = info.default
    if default is None or value is None:
        return value
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(value)
                return value.lower() in ("true", "1")
            return bool(value)
        if isinstance(default, int) and not isinstance(default, bool):
            as_float = float(value)
            if info.step is not None and float(info.step) % 1 != 0:
                return as_float
            if as_float != int(as_float):
                raise ValueError(value)
            return int(as_float)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, str):
            if not isinstance(value, str):
                raise ValueError(value)
        if isinstance(default, list):
            if isinstance(value, str):
                return [v.strip() for v in value.split(",") if v.strip()]
            return list(value)
    except (TypeError, ValueError) as e:
        raise SettingsError(f"setting {key!r} expects {type(default).__name__}, got {value!r}") from e
    if info.choices and isinstance(value, str) and value not in info.choices:
        raise SettingsError(f"setting {key!r} must be one of {list(info.choices)}, got {value!r}")
    return value


class SettingsView(Mapping[str, Any]):
    """Read-only settings as one request sees them: stored values plus its overrides."""

    def __init__(self, base: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> None:
        self._data = {**base, **(overrides or {})}

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __getattr__(self, key: str) -> Any:
        try:
            return self._data[key]
        except KeyError as e:
            raise AttributeError(key) from e


class SettingsStore:
    """The app's settings, backed by `config.json`; thread-safe."""

    def __init__(self, path: Path, schema: dict[str, OptionInfo] | None = None) -> None:
        self.path = path
        self.schema = schema if schema is not None else default_schema()
        self._lock = threading.Lock()
        self._data: dict[str, Any] = {}
        self.warnings: list[str] = []
        self.load()

    def defaults(self) -> dict[str, Any]:
        return {k: (list(o.default) if isinstance(o.default, list) else o.default) for k, o in self.schema.items()}

    def load(self) -> None:
        """Read config.json; keep a corrupt file aside and fall back to defaults."""
        data = self.defaults()
        if self.path.exists():
            try:
                stored = json.loads(self.path.read_text(encoding="utf-8"))
                if not isinstance(stored, dict):
                    raise ValueError("top level is not an object")
                data.update(stored)
            except (ValueError, UnicodeDecodeError) as e:
                aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
                os.replace(self.path, aside)
                self.warnings.append(f"{self.path.name} was unreadable ({e}); it was kept as {aside.name} "
                                     "and default settings were loaded")
        with self._lock:
            self._data = data

    def save(self) -> None:
        with self._lock:
            text = json.dumps(self._data, indent=4, ensure_ascii=False, default=str)
        atomic_write_text(self.path, text)

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            return self._data.get(key, default)

    def __getitem__(self, key: str) -> Any:
        with self._lock:
            return self._data[key]

    def validate(self, updates: Mapping[str, Any], *, allow_unknown: bool = False) -> dict[str, Any]:
        """Coerce values; unknown keys are an error unless allowed (extensions' stale keys)."""
        clean: dict[str, Any] = {}
        for key, value in updates.items():
            info = self.schema.get(key)
            if info is None:
                if not allow_unknown:
                    raise SettingsError(f"unknown setting {key!r}; GET /sdapi/v1/options lists the valid keys")
                clean[key] = value
                continue
            clean[key] = coerce_value(key, info, value)
        return clean

    def update(self, updates: Mapping[str, Any], *, save: bool = True) -> list[str]:
        """Set several settings at once (all or nothing); returns the keys that changed."""
        clean = self.validate(updates)
        with self._lock:
            changed = [k for k, v in clean.items() if self._data.get(k) != v]
            self._data.update(clean)
        if save:
            self.save()
        return changed

    def add_option(self, key: str, info: OptionInfo) -> None:
        """A setting added at run time (by an extension): its default unless config.json has a value."""
        with self._lock:
            self.schema[key] = info
            self._data.setdefault(key, list(info.default) if isinstance(info.default, list) else info.default)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._data)

    def view(self, overrides: Mapping[str, Any] | None = None) -> SettingsView:
        """Settings for one request; overrides are validated and never stored."""
        clean = self.validate(overrides or {}, allow_unknown=False) if overrides else {}
        return SettingsView(self.snapshot(), clean)
