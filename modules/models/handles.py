"""Model handles: anything the model cache can hold besides the checkpoint's own parts.

ControlNets, upscalers, interrogation models, standalone VAEs and what extensions bring are
registered as a `ModelHandle` under a key; the cache loads them on first use (into RAM, with an
LRU over the handles), places them on the device inside `cache.use(...)`, and drops the least
recently used ones when the RAM budget is exceeded. A feature never moves modules itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

CHECKPOINT_PARTS = ("unet", "vae", "text_encoders")


@dataclass
class ModelHandle:
    """One cacheable model: `load()` builds it (on the CPU); the cache keeps the result."""

    key: str
    load: Callable[[], Any]
    kind: str = "model"
    size_bytes: int | None = None
    module: Any = None
    last_used: float = field(default=0.0)

    @property
    def loaded(self) -> bool:
        return self.module is not None

    def ensure_loaded(self) -> Any:
        if self.module is None:
            self.module = self.load()
            if self.size_bytes is None:
                self.size_bytes = module_bytes(self.module)
        self.last_used = time.monotonic()
        return self.module


def module_bytes(module: Any) -> int:
    """Bytes of parameters and buffers (0 for things that are not torch modules)."""
    if not isinstance(module, torch.nn.Module):
        return 0
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


class Placer(Protocol):
    """Moves one part to a device. The cache's only way to move models (tests record it)."""

    def move(self, key: str, modules: list[Any], device: torch.device) -> None: ...


class TorchPlacer:
    """The real placer: `module.to(device)` for every module of the part."""

    def move(self, key: str, modules: list[Any], device: torch.device) -> None:
        for module in modules:
            if hasattr(module, "to"):
                module.to(device)
