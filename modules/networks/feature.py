"""The extra networks as one job feature of the engine seams (modules/engine/features.py).

Per pass: the LoRA and hypernetwork handlers collect their changes for the pass's model into a
`NetworkJob`; they are handed to the engine as one `PatchSet` of the seams (weight deltas in
"merge" mode, forward wrappers in "hooks" mode and for hypernetworks), which the engine applies
inside each model scope and undoes after it. The embedding lookup for the pass's model, the
infotext (`Lora hashes`) and the warnings go into the same contribution.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from modules.engine.features import Contribution, FeatureSetup, PassContext
from modules.models import patches as seam_patches
from modules.networks.job import NetworkJob
from modules.networks.patching import LayerPatch, PatchSet

NETWORK_TYPES = ("lora", "lyco", "hypernet")


def module_paths(model: Any) -> dict[int, tuple[str, str]]:
    """id(module) -> (part key, dotted path) as the seams' patches address them."""
    out: dict[int, tuple[str, str]] = {id(m): ("unet", n) for n, m in model.unet.named_modules()}
    for i, bundle in enumerate(model.text_encoders):
        for name, module in bundle.model.named_modules():
            out[id(module)] = ("text_encoders", f"{i}.{name}" if name else str(i))
    return out


def _delta_wrapper(patch: LayerPatch) -> Any:
    """Add the patch's output to the layer's: low-rank pairs as two small matmuls, the rest dense."""
    module = patch.module

    def wrap(original: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        out = original(x, *args, **kwargs)
        for down, up in patch.factors:
            out = out + F.linear(F.linear(x, down.to(x)), up.to(x))
        weight = patch.weight.to(x) if patch.weight is not None else None
        bias = patch.bias.to(x) if patch.bias is not None else None
        if weight is None and bias is None:
            return out
        if isinstance(module, torch.nn.Conv2d):
            if weight is None:
                return out + bias.view(1, -1, 1, 1)
            return out + F.conv2d(x, weight, bias, module.stride, module.padding, module.dilation, module.groups)
        return out + (F.linear(x, weight, bias) if weight is not None else bias)

    return wrap


def _input_wrapper(fn: Any) -> Any:
    def wrap(original: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        return original(fn(x), *args, **kwargs)

    return wrap


def to_seam_patches(patches: PatchSet, model: Any, mode: str) -> seam_patches.PatchSet:
    """Our collected per-layer changes as the engine's patch data."""
    paths = module_paths(model)
    deltas: list[seam_patches.WeightDelta] = []
    wrappers: list[seam_patches.ForwardWrapper] = []
    for patch in patches.patches:
        target, path = paths[id(patch.module)]
        hookable = isinstance(patch.module, (torch.nn.Linear, torch.nn.Conv2d))
        if mode == "hooks" and hookable:
            wrappers.append(seam_patches.ForwardWrapper(target, path, _delta_wrapper(patch)))
            continue
        for leaf, delta in (("weight", patch.full_weight()), ("bias", patch.bias)):
            if delta is not None:
                deltas.append(seam_patches.WeightDelta(target, f"{path}.{leaf}", delta))
    for module, fn in patches.input_wrappers:
        target, path = paths[id(module)]
        wrappers.append(seam_patches.ForwardWrapper(target, path, _input_wrapper(fn)))
    return seam_patches.PatchSet("extra networks", weight_deltas=tuple(deltas), wrappers=tuple(wrappers))


class NetworksFeature:
    """LoRA/LyCORIS, hypernetworks and textual-inversion embeddings for every job."""

    name = "Extra networks"

    def __init__(self, services: Any) -> None:
        self.services = services

    def contribute(self, setup: FeatureSetup, pass_: PassContext) -> Contribution:
        model = pass_.model
        contribution = Contribution(embeddings=self.services.embeddings.lookup(model))
        tags = {k: v for k, v in setup.extra_networks.items() if k in NETWORK_TYPES}
        if not tags:
            return contribution
        job = NetworkJob(model, setup.settings)
        job.warnings.extend(self.services.registry.activate(tags, job))
        if job.patches:
            contribution.patches.append(to_seam_patches(job.patches, model, job.apply_mode))
        contribution.infotext.update(job.extra_params)
        contribution.comments.extend(job.warnings)
        contribution.handled_networks |= set(tags)
        return contribution


def register(runtime: Any) -> None:
    if runtime.networks is not None:
        runtime.features.register(NetworksFeature(runtime.networks))
