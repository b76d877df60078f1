"""What a job's networks change, collected per layer before it becomes the engine's patch data.

Several LoRAs may touch one layer: their deltas (already times each one's strength) are summed
here, so the engine adds one delta per weight. Hypernetworks add input wrappers (a function applied
to a layer's first input). `modules/networks/feature.py` turns the collection into the engine's
`PatchSet` (modules/models/patches.py), which applies it for one model scope and restores the
weights bit-identically afterwards.

How it is applied is the setting `lora_apply_mode`:
- "merge" (default): weight deltas, added in place for the scope (the engine keeps a copy of the
  original and writes it back), so sampling runs at the plain model's speed;
- "hooks": forward wrappers that add the change's output to the layer's output; the weights are
  never touched. Plain LoRAs on linear layers stay low-rank factors (two rank-sized matmuls per
  call); other formats pay a second matmul of the layer's size.
Norm layers are always merged (they have no cheap output form).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

APPLY_MODES = ("merge", "hooks")


@dataclass
class LayerPatch:
    """The summed change to one layer (already multiplied by each network's strength).

    `factors` are low-rank (down, up) pairs of plain LoRAs on linear layers, kept unmultiplied so
    that hooks can use them as they are; `full_weight()` adds them into one delta for merging.
    """

    module: Any
    weight: torch.Tensor | None
    bias: torch.Tensor | None = None
    factors: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)

    def add(self, weight: torch.Tensor | None, bias: torch.Tensor | None) -> None:
        if weight is not None:
            self.weight = weight if self.weight is None else self.weight + weight
        if bias is not None:
            self.bias = bias if self.bias is None else self.bias + bias

    def full_weight(self) -> torch.Tensor | None:
        """The whole weight delta: the dense part plus every low-rank pair multiplied out."""
        total = self.weight
        for down, up in self.factors:
            product = up @ down
            total = product if total is None else total + product
        return total


class PatchSet:
    """Deltas collected per layer from any number of networks, plus input wrappers."""

    def __init__(self) -> None:
        self._patches: dict[int, LayerPatch] = {}
        self._input_wrappers: list[tuple[Any, Callable[[torch.Tensor], torch.Tensor]]] = []

    def add(self, module: Any, weight: torch.Tensor | None, bias: torch.Tensor | None = None) -> None:
        patch = self._patches.get(id(module))
        if patch is None:
            self._patches[id(module)] = LayerPatch(module, weight, bias)
        else:
            patch.add(weight, bias)

    def add_factors(self, module: Any, down: torch.Tensor, up: torch.Tensor) -> None:
        """A low-rank change `up @ down` (strength already in `up`) to a linear layer."""
        patch = self._patches.get(id(module))
        if patch is None:
            patch = self._patches[id(module)] = LayerPatch(module, None)
        patch.factors.append((down, up))

    def wrap_input(self, module: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Transform a layer's first input before it runs (hypernetworks on the cross-attention keys/values)."""
        self._input_wrappers.append((module, fn))

    def __len__(self) -> int:
        return len(self._patches) + len(self._input_wrappers)

    @property
    def patches(self) -> list[LayerPatch]:
        return list(self._patches.values())

    @property
    def input_wrappers(self) -> list[tuple[Any, Callable[[torch.Tensor], torch.Tensor]]]:
        return list(self._input_wrappers)
