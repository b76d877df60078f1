"""`ui-config.json`: the defaults of UI widgets, in A1111's key format (`txt2img/Sampling steps/value`).

Users edit this file (or press "Save as defaults" in Settings) to change what the page starts
with, and to widen slider ranges (`.../maximum`). Keys of widgets not built this time are kept,
so an extension that is disabled for a while does not lose its defaults. A corrupt file is
moved aside with a warning, never deleted and never fatal.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modules.settings.store import parse_settings_json
from modules.storage.durable_file import read_recovering, warn_everywhere, write_durably


def _coerce(stored: Any, default: Any) -> Any:
    """The stored value in the default's type, or raise TypeError when it cannot be one."""
    if default is None or stored is None:
        return stored
    if isinstance(default, bool):
        if isinstance(stored, bool):
            return stored
        raise TypeError
    if isinstance(default, int):
        if isinstance(stored, (int, float)) and not isinstance(stored, bool) and float(stored).is_integer():
            return int(stored)
        raise TypeError
    if isinstance(default, float):
        if isinstance(stored, (int, float)) and not isinstance(stored, bool):
            return float(stored)
        raise TypeError
    if isinstance(default, str):
        if isinstance(stored, str):
            return stored
        raise TypeError
    if isinstance(default, list):
        if isinstance(stored, list):
            return stored
        raise TypeError
    return stored




class UiConfig:
    """Thread-safe view of ui-config.json: read at build time, written atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.warnings: list[str] = []
        self._lock = threading.Lock()
        self._write_lock = threading.RLock()  # one writer at a time
        self._data: dict[str, Any] = {}
        self._new_keys = False
        # Defaults for this page only, never written to the file (the demo model's recommended
        # size/steps/CFG must not become the user's defaults once they add their own checkpoints).
        self.transient_defaults: dict[str, Any] = {}
        self.load()

    def load(self) -> None:
        """Read the file; a damaged one is moved aside and its last good copy restored (warned)."""
        recovered = read_recovering(self.path, parse_settings_json)
        self.warnings.extend(recovered.warnings)
        warn_everywhere(recovered.warnings)
        with self._lock:
            self._data = recovered.value or {}

    def value(self, key: str, default: Any, choices: list[Any] | None = None) -> Any:
        """The stored value for `key` if it fits the default's type (and `choices`); else the default."""
        with self._lock:
            if key not in self._data:
                if key in self.transient_defaults:
                    return self.transient_defaults[key]
                self._data[key] = default
                self._new_keys = True
                return default
            stored = self._data[key]
        try:
            value = _coerce(stored, default)
        except TypeError:
            self.warnings.append(f"{self.path.name}: {key} = {stored!r} is not a {type(default).__name__}; "
                                 f"using {default!r}")
            return default
        if choices is not None and value not in choices:
            self.warnings.append(f"{self.path.name}: {key} = {stored!r} is not one of the choices; "
                                 f"using {default!r}")
            return default
        return value

    def slider(self, prefix: str, value: float, minimum: float, maximum: float,
               step: float) -> dict[str, float]:
        """Keyword arguments for a slider, each overridable as A1111 allows (`<prefix>/maximum`)."""
        defaults = {"value": value, "minimum": minimum, "maximum": maximum, "step": step}
        return {name: self.value(f"{prefix}/{name}", default) for name, default in defaults.items()}

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._data)

    def update(self, values: Mapping[str, Any]) -> list[str]:
        """Store new defaults and write the file; returns the keys whose value changed."""
        with self._write_lock:
            with self._lock:
                changed = [k for k, v in values.items() if self._data.get(k) != v]
                self._data.update(values)
            self.save()
        return changed

    def save(self) -> None:
        with self._write_lock:
            with self._lock:
                text = json.dumps(self._data, indent=4, ensure_ascii=False, allow_nan=False)
                self._new_keys = False
            write_durably(self.path, text)

    def save_if_new_keys(self) -> None:
        """Write the file when building the UI met keys it lacked (A1111 writes it at start-up)."""
        with self._lock:
            pending = self._new_keys
        if pending:
            self.save()
