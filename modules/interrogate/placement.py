"""Where interrogation models live between and during calls.

`CachePlacement` (the app's): the models are handles in the model cache (`kind="interrogator"`),
so one memory policy covers them and the checkpoint. `cache.use` makes room first (under
--medvram/--lowvram the checkpoint's parts go back to the CPU before an interrogation model comes
onto the device), and after each call the interrogation models leave the device again under
those flags. `ModelPlacement` is the same interface on its own, for `--use-cpu interrogate`
(everything stays on the CPU) and for tests without a cache.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

from modules.models.handles import ModelHandle
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


@dataclass
class CachePlacement:
    """The ModelPlacement interface over the app's model cache."""

    cache: Any  # modules.models.cache.ModelCache
    _keys: list[str] = field(default_factory=list)

    @property
    def device(self) -> torch.device:
        return self.cache.policy.compute_device

    def register(self, key: str, load: Callable[[], torch.nn.Module], kind: str = "interrogator") -> str:
        self.cache.register(ModelHandle(key, load=load, kind=kind))
        if key not in self._keys:
            self._keys.append(key)
        return key

    def loaded(self) -> list[str]:
        return sorted(k for k in self._keys if (h := self.cache.handle(k)) is not None and h.loaded)

    def where(self, key: str) -> torch.device | None:
        handle = self.cache.handle(key)
        param = next(handle.module.parameters(), None) if handle is not None and handle.loaded else None
        return param.device if param is not None else None

    @contextmanager
    def use(self, keys: Sequence[str]) -> Iterator[dict[str, torch.nn.Module]]:
        """`cache.use(keys)`; under --medvram/--lowvram everything leaves the device afterwards."""
        try:
            with self.cache.use(list(keys)) as parts:
                yield parts
        finally:
            if self.cache.policy.swaps:
                with self.cache.use([]):  # make room for nothing: every part goes back to the CPU
                    pass
                release_freed_memory(collect_garbage=False)

    def unload(self) -> None:
        for key in self._keys:
            self.cache.release(key)
