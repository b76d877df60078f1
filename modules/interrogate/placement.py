"""Where interrogation models live between and during calls.

Models load lazily (on the CPU) the first time a call needs them and stay in RAM. During a call
they sit on the compute device; with `offload_after_use` (--medvram / --lowvram) they go back to
the CPU when the call ends, so the GPU is free for the checkpoint again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from modules.models.memory import release_freed_memory


@dataclass
class ModelPlacement:
    """Lazily loaded modules keyed by name, placed on `device` inside `use`."""

    device: torch.device
    offload_after_use: bool = False
    _loaders: dict[str, Callable[[], torch.nn.Module]] = field(default_factory=dict)
    _modules: dict[str, torch.nn.Module] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def register(self, key: str, load: Callable[[], torch.nn.Module], kind: str = "model") -> str:
        """Remember how to build `key` (idempotent); returns the key."""
        with self._lock:
            self._loaders.setdefault(key, load)
        return key

    def module(self, key: str) -> torch.nn.Module:
        with self._lock:
            if key not in self._modules:
                self._modules[key] = self._loaders[key]()
            return self._modules[key]

    def loaded(self) -> list[str]:
        return sorted(self._modules)

    def where(self, key: str) -> torch.device | None:
        """The device of a loaded module's first parameter (None when it is not loaded)."""
        module = self._modules.get(key)
        param = next(module.parameters(), None) if module is not None else None
        return param.device if param is not None else None

    @contextmanager
    def use(self, keys: Sequence[str]) -> Iterator[dict[str, torch.nn.Module]]:
        """Load and place `keys` on the device for the block; offload afterwards when asked to."""
        with self._lock:
            parts = {key: self.module(key).to(self.device) for key in keys}
            try:
                yield parts
            finally:
                if self.offload_after_use and self.device.type != "cpu":
                    for module in parts.values():
                        module.to("cpu")
                    release_freed_memory()

    def unload(self) -> None:
        with self._lock:
            self._modules.clear()
            self._loaders.clear()
        release_freed_memory()
