"""`config.json`: load, validate, save durably; per-request views that never leak.

Writes are serialised (one writer at a time) and go through `durable_file`: unique temp file,
fsync, atomic rename, `.bak` copy; a write returns only once the file is on disk. A damaged
`config.json` is moved aside (never deleted: the user's settings are theirs), the backup is
restored, and the console and the Settings tab say so. Every value is checked against the
schema when written and when loaded: a bad stored value falls back to its default with a
warning naming it, the rest of the file is kept. Unknown keys in the file are kept, as A1111
does, so settings of extensions not loaded this time survive a save.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from modules.settings.schema import OptionInfo, default_schema
from modules.settings.validation import Check, SettingsError, check_value
from modules.storage.durable_file import read_recovering, warn_everywhere, write_durably

__all__ = ["SettingsError", "SettingsStore", "SettingsView", "atomic_write_text", "coerce_value"]


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` so that readers see either the old or the new file, never half of one."""
    write_durably(path, text, backup=False)


def coerce_value(key: str, info: OptionInfo, value: Any) -> Any:
    """Check and convert a value against the option's schema (SettingsError when it does not fit)."""
    return check_value(key, info, value)


def _refuse_non_finite(text: str) -> float:
    raise ValueError(f"{text} is not a valid number in a settings file")


def parse_settings_json(text: str) -> dict[str, Any]:
    """config.json's object; NaN/Infinity are refused (they are not JSON and break the UI)."""
    data = json.loads(text, parse_constant=_refuse_non_finite)
    if not isinstance(data, dict):
        raise ValueError("top level is not an object")
    return data


def _finite_json(value: Any) -> Any:
    """Unknown keys are stored as given: make sure no NaN/inf reaches the file."""
    if isinstance(value, float) and not math.isfinite(value):
        raise SettingsError(f"{value} is not a finite number")
    if isinstance(value, dict):
        return {k: _finite_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_json(v) for v in value]
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
    """The app's settings, backed by `config.json`; thread-safe, one writer at a time."""

    def __init__(self, path: Path, schema: dict[str, OptionInfo] | None = None) -> None:
        self.path = path
        self.schema = schema if schema is not None else default_schema()
        self._lock = threading.Lock()  # guards _data
        self._write_lock = threading.RLock()  # one writer: memory and file change in the same order
        self._data: dict[str, Any] = {}
        self._checks: dict[str, Check] = {}
        self.warnings: list[str] = []
        self.load()

    def defaults(self) -> dict[str, Any]:
        return {k: (list(o.default) if isinstance(o.default, list) else o.default) for k, o in self.schema.items()}

    def add_check(self, key: str, check: Check) -> None:
        """An extra rule for one setting (e.g. "a folder inside the data folder"); stored values
        that break it are reset to their default right away, with a warning."""
        self._checks[key] = check
        value = self.get(key)
        if key in self.schema and value is not None:
            try:
                check(value)
            except SettingsError as e:
                self._reset_bad(key, e)

    def _reset_bad(self, key: str, error: Exception) -> None:
        default = self.defaults().get(key)
        with self._lock:
            self._data[key] = default
        text = f"{self.path.name}: {error}; using the default {default!r} instead"
        self.warnings.append(text)
        warn_everywhere([text])

    def load(self) -> None:
        """Read config.json (restoring its backup if it is damaged); bad values -> defaults."""
        recovered = read_recovering(self.path, parse_settings_json)
        data = self.defaults()
        bad: list[str] = []
        for key, value in (recovered.value or {}).items():
            info = self.schema.get(key)
            if info is None:
                data[key] = value
                continue
            try:
                data[key] = check_value(key, info, value, self._checks)
            except SettingsError as e:
                bad.append(f"{self.path.name}: {e}; using the default {info.default!r} instead")
        self.warnings.extend(recovered.warnings + bad)
        warn_everywhere(recovered.warnings + bad)
        with self._lock:
            self._data = data

    def save(self) -> None:
        with self._write_lock:
            with self._lock:
                text = json.dumps(self._data, indent=4, ensure_ascii=False, default=str, allow_nan=False)
            write_durably(self.path, text)

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            return self._data.get(key, default)

    def __getitem__(self, key: str) -> Any:
        with self._lock:
            return self._data[key]

    def validate(self, updates: Mapping[str, Any], *, allow_unknown: bool = False) -> dict[str, Any]:
        """Check every value; unknown keys are an error unless allowed (extensions' stale keys)."""
        clean: dict[str, Any] = {}
        for key, value in updates.items():
            info = self.schema.get(key)
            if info is None:
                if not allow_unknown:
                    raise SettingsError(f"unknown setting {key!r}; GET /sdapi/v1/options lists the valid keys")
                clean[key] = _finite_json(value)
                continue
            clean[key] = check_value(key, info, value, self._checks)
        return clean

    def update(self, updates: Mapping[str, Any], *, save: bool = True) -> list[str]:
        """Set several settings at once (all or nothing); returns the keys that changed.
        With `save`, returns only once the file is on disk."""
        clean = self.validate(updates)
        with self._write_lock:
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
