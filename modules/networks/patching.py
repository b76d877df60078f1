"""Scoped weight patches: a job's networks change layers only inside a `with` block.

Two ways to apply the same deltas, chosen by the setting `lora_apply_mode`:
- "merge" (default): each patched layer's weight is copied aside, the summed delta of all active
  networks is added in place, and on exit the copy is written back with `copy_`, so the weights
  are bit-identical afterwards (never "add, then subtract", which rounds). Sampling then runs at
  exactly the speed of the plain model; the price is one spare copy of the patched layers.
- "hooks": the weights are never touched; a forward hook adds `F.linear(x, delta)` (or the
  matching convolution) to each patched layer's output. No weight copies, but every step pays
  an extra matmul per patched layer. Norm layers are always merged (they have no cheap hook).
Input wrappers (hypernetworks) are forward pre-hooks, removed on exit like the rest.
A job without networks creates no scope at all, so it runs exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

APPLY_MODES = ("merge", "hooks")


@dataclass
class LayerPatch:
    """The summed change to one layer (already multiplied by each network's strength)."""

    module: Any
    weight: torch.Tensor | None
    bias: torch.Tensor | None = None

    def add(self, weight: torch.Tensor | None, bias: torch.Tensor | None) -> None:
        if weight is not None:
            self.weight = weight if self.weight is None else self.weight + weight
        if bias is not None:
            self.bias = bias if self.bias is None else self.bias + bias


class PatchSet:
    """Deltas collected per layer from any number of networks, applied together."""

    def __init__(self) -> None:
        self._patches: dict[int, LayerPatch] = {}
        self._input_wrappers: list[tuple[Any, Callable[[torch.Tensor], torch.Tensor]]] = []

    def wrap_input(self, module: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Transform a layer's first input before it runs (hypernetworks on the cross-attention keys/values)."""
        self._input_wrappers.append((module, fn))

    def add(self, module: Any, weight: torch.Tensor | None, bias: torch.Tensor | None = None) -> None:
        patch = self._patches.get(id(module))
        if patch is None:
            self._patches[id(module)] = LayerPatch(module, weight, bias)
        else:
            patch.add(weight, bias)

    def __len__(self) -> int:
        return len(self._patches) + len(self._input_wrappers)

    @property
    def patches(self) -> list[LayerPatch]:
        return list(self._patches.values())

    @property
    def input_wrappers(self) -> list[tuple[Any, Callable[[torch.Tensor], torch.Tensor]]]:
        return list(self._input_wrappers)


def _merge(patch: LayerPatch, saved: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    module = patch.module
    for param, delta in ((module.weight, patch.weight), (getattr(module, "bias", None), patch.bias)):
        if delta is None:
            continue
        if param is None:
            raise ValueError(f"a network changes the bias of {type(module).__name__}, which has none")
        saved.append((param, param.detach().clone()))
        param.data.add_(delta.to(device=param.device, dtype=param.dtype))


def _hook_for(patch: LayerPatch) -> Any:
    module = patch.module
    param = module.weight
    weight = patch.weight.to(param) if patch.weight is not None else None
    bias = patch.bias.to(param) if patch.bias is not None else None

    def hook(_module: Any, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
        x = inputs[0]
        if isinstance(module, torch.nn.Conv2d):
            extra = F.conv2d(x, weight, bias, module.stride, module.padding, module.dilation, module.groups) \
                if weight is not None else bias.view(1, -1, 1, 1)
        else:
            extra = F.linear(x, weight, bias) if weight is not None else bias
        return output + extra

    return hook


def _pre_hook(fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    def hook(_module: Any, inputs: tuple[Any, ...]) -> tuple[Any, ...]:
        return (fn(inputs[0]), *inputs[1:])

    return hook


@contextmanager
def applied(patches: PatchSet, mode: str = "merge") -> Iterator[None]:
    """Apply every patch for the duration of the block; restore exactly on exit, even on errors."""
    if mode not in APPLY_MODES:
        raise ValueError(f"unknown LoRA apply mode {mode!r}; use one of {', '.join(APPLY_MODES)}")
    saved: list[tuple[torch.Tensor, torch.Tensor]] = []
    handles: list[Any] = []
    try:
        for module, fn in patches.input_wrappers:
            handles.append(module.register_forward_pre_hook(_pre_hook(fn)))
        with torch.no_grad():
            for patch in patches.patches:
                if mode == "hooks" and isinstance(patch.module, (torch.nn.Linear, torch.nn.Conv2d)):
                    handles.append(patch.module.register_forward_hook(_hook_for(patch)))
                else:
                    _merge(patch, saved)
        yield
    finally:
        for handle in handles:
            handle.remove()
        with torch.no_grad():
            for param, original in reversed(saved):
                param.data.copy_(original)
