"""What extra-network handlers see of a job (per pass): the model, settings and the collectors.

Handlers (LoRA, hypernetworks) only collect: deltas and input wrappers go into `patches`,
infotext values into `extra_params`, problems into `warnings`. The job feature
(modules/networks/feature.py) hands all of it to the engine as one contribution.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modules.models.sd_model import LoadedModel
from modules.networks.patching import APPLY_MODES, PatchSet


@dataclass
class NetworkJob:
    model: LoadedModel
    settings: Mapping[str, Any] = field(default_factory=dict)
    extra_params: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    patches: PatchSet = field(default_factory=PatchSet)

    @property
    def apply_mode(self) -> str:
        mode = str(self.settings.get("lora_apply_mode", "merge"))
        if mode not in APPLY_MODES:
            raise ValueError(f"unknown LoRA apply mode {mode!r}; use one of {', '.join(APPLY_MODES)}")
        return mode
