"""What extra-network handlers see of a job, and the one scope that applies all their patches.

Handlers (LoRA, hypernetworks) only collect: deltas and input wrappers go into the job's
`PatchSet`, infotext values into `extra_params`, problems into `warnings`. The engine then opens
`job.scope()` once around sampling and decoding, so every network of the job is applied together
and taken off together, whatever fails in between.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from modules.models.sd_model import LoadedModel
from modules.networks.patching import PatchSet, applied


@dataclass
class NetworkJob:
    model: LoadedModel
    settings: Mapping[str, Any] = field(default_factory=dict)
    extra_params: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    patches: PatchSet = field(default_factory=PatchSet)

    @property
    def apply_mode(self) -> str:
        try:
            return str(self.settings["lora_apply_mode"])
        except KeyError:
            return "merge"

    @contextmanager
    def scope(self) -> Iterator[None]:
        if not self.patches:
            yield
            return
        with applied(self.patches, self.apply_mode):
            yield


def activate_networks(registry: Any, model: LoadedModel, settings: Mapping[str, Any],
                      data: Mapping[str, Any]) -> NetworkJob:
    """Let every registered network type collect its patches for this job's tags.

    `registry` is an ExtraNetworkRegistry (or None when the app registered none: then tags are
    reported as not applied). Warnings end up in `job.warnings`.
    """
    job = NetworkJob(model, settings)
    if registry is None:
        if data:
            job.warnings.append(f"Extra-network tags were not applied (no network types available): "
                                f"{', '.join(data)}")
        return job
    job.warnings.extend(registry.activate(dict(data), job))
    return job
