"""The sampler spec: the contract between the sampler registry and everything that runs samplers.

A leaf module (no sampler implementations imported) so that options, schedules and the engine can
name the type without importing the whole registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch

SamplerFn = Callable[..., torch.Tensor]
SAMPLER_KINDS = ("kdiffusion", "timestep", "lcm")


@dataclass(frozen=True)
class SamplerSpec:
    """One sampler: A1111 name, aliases, default schedule type and how to run it.

    `default_scheduler` is a schedule-type name ("karras") or None for the model's own
    schedule. `options` is A1111's options dict as /sdapi/v1/samplers reports it.
    `extra_params` are the churn parameters A1111 passes to this sampler; `takes_eta` says
    whether eta reaches it; `cfg_scale_multiplier` and `needs_uncond` are for CFG++.
    `description` is the user-facing hint; `ignores_steps` marks a sampler that picks its own
    number of steps (DPM adaptive), so progress can say so instead of "Step 37/10".
    """

    name: str
    aliases: tuple[str, ...]
    default_scheduler: str | None
    fn: SamplerFn
    options: Mapping[str, Any] = field(default_factory=dict)
    second_order: bool = False
    uses_ensd: bool = False
    brownian: bool = False
    discard_next_to_last_sigma: bool = False
    kind: str = "kdiffusion"
    takes_eta: bool = False
    extra_params: tuple[str, ...] = ()
    cfg_scale_multiplier: float = 1.0
    needs_uncond: bool = False
    description: str = ""
    ignores_steps: bool = False

    def __post_init__(self) -> None:
        if self.kind not in SAMPLER_KINDS:
            raise ValueError(f"Sampler {self.name!r}: kind must be one of {SAMPLER_KINDS}, got {self.kind!r}")
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    def api_dict(self) -> dict[str, Any]:
        """The shape of one item of GET /sdapi/v1/samplers."""
        return {"name": self.name, "aliases": list(self.aliases), "options": dict(self.options)}
