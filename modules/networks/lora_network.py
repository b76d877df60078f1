"""A LoRA/LyCORIS file read into per-layer tensors, and turned into patches for one model.

Family checks come first, so that a LoRA made for another architecture is reported by name
instead of half-applied: the training metadata (`ss_base_model_version`, `modelspec.architecture`)
and the key names (SDXL files have two text encoders, `lora_te1_`/`lora_te2_`) say what it was made
for; layers whose shapes do not fit are counted and reported too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from modules.models.sd_model import LoadedModel
from modules.models.state_dict import read_state_dict
from modules.networks.lora_keys import TargetKey, group_lora_keys, model_targets
from modules.networks.lora_weights import LoraFormatError, format_of, layer_delta, linear_factors
from modules.networks.patching import PatchSet


class LoraMismatchError(ValueError):
    """The LoRA does not fit the loaded model (another family, or no layer matches)."""


@dataclass
class LoraNetwork:
    """One file's tensors grouped by target layer."""

    name: str
    path: Path
    groups: dict[TargetKey, dict[str, torch.Tensor]]
    unknown_keys: list[str]
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def family(self) -> str | None:
        """"sdxl", "sd2", "sd1" or None (unknown): what the file says it was made for."""
        return family_hint(self.groups, self.metadata)

    @property
    def formats(self) -> list[str]:
        kinds = set()
        for params in self.groups.values():
            try:
                kinds.add(format_of(params))
            except LoraFormatError:
                kinds.add("unknown")
        return sorted(kinds)


def family_hint(groups: Mapping[TargetKey, Mapping[str, torch.Tensor]], metadata: Mapping[str, str]) -> str | None:
    base = (metadata.get("ss_base_model_version", "") + " " + metadata.get("modelspec.architecture", "")).lower()
    if "xl" in base:
        return "sdxl"
    if "v2" in base or "sd_2" in base or "v2-" in base:
        return "sd2"
    if "sd_v1" in base or "v1" in base:
        return "sd1"
    if any(component == "te1" for component, _ in groups):
        return "sdxl"
    return None


def load_lora(name: str, path: Path) -> LoraNetwork:
    """Read a LoRA file (.safetensors, or .pt/.ckpt through the restricted unpickler)."""
    from modules.networks.catalog import read_header_metadata

    state = read_state_dict(path)
    groups, unknown = group_lora_keys(state)
    if not groups:
        raise LoraFormatError(f"'{path.name}' holds no LoRA tensors (keys such as {list(state)[:3]})")
    metadata, _ = read_header_metadata(path)
    return LoraNetwork(name, path, groups, unknown, metadata)


def model_family_name(model: LoadedModel) -> str:
    if model.family.is_sdxl:
        return "sdxl"
    return "sd2" if model.family.is_sd2 else "sd1"


FAMILY_LABELS = {"sdxl": "SDXL", "sd2": "SD2", "sd1": "SD1.x"}


@dataclass
class PatchReport:
    matched: int = 0
    unmatched: list[str] = field(default_factory=list)
    misfit: list[str] = field(default_factory=list)


def add_patches(network: LoraNetwork, model: LoadedModel, te_multiplier: float, unet_multiplier: float,
                patches: PatchSet) -> PatchReport:
    """Add this network's deltas (times the multipliers) to `patches`; raise when nothing fits."""
    made_for, have = network.family, model_family_name(model)
    if made_for is not None and made_for != have and "sdxl" in (made_for, have):
        raise LoraMismatchError(f"LoRA '{network.name}' was made for {FAMILY_LABELS[made_for]} models and does "
                                f"not fit the loaded {FAMILY_LABELS[have]} model; it was not applied")
    targets = model_targets(model)
    report = PatchReport()
    for key, params in network.groups.items():
        target = targets.get(key)
        if target is None:
            report.unmatched.append("_".join(key))
            continue
        multiplier = unet_multiplier if target.component == "unet" else te_multiplier
        try:
            factors = linear_factors(params, target.module.weight)
            delta = None if factors is not None else layer_delta(params, target.module.weight)
        except (LoraFormatError, RuntimeError, KeyError) as exc:
            report.misfit.append(f"{target.name}: {exc}")
            continue
        report.matched += 1
        if multiplier == 0:
            continue
        if factors is not None:
            patches.add_factors(target.module, factors[0], factors[1] * multiplier)
        else:
            patches.add(target.module, None if delta.weight is None else delta.weight * multiplier,
                        None if delta.bias is None else delta.bias * multiplier)
    if report.matched == 0:
        label = FAMILY_LABELS.get(made_for or "", "another model family")
        raise LoraMismatchError(f"LoRA '{network.name}' matches no layer of the loaded {FAMILY_LABELS[have]} model "
                                f"(made for {label}?); it was not applied")
    return report
