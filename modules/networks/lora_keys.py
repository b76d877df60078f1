"""LoRA key names -> (component, layer) pairs, and our loaded modules under the same names.

Files name their target layers in several dialects, all of which are accepted:
- kohya/A1111: `lora_unet_<layer>`, `lora_te_<layer>` (SD1/SD2), `lora_te1_`/`lora_te2_` (SDXL),
  with dots turned into underscores; the UNet layer is named either in diffusers' layout
  (`down_blocks_0_attentions_0_...`, SD1 trainers) or in the original one (`input_blocks_1_1_...`,
  SDXL trainers);
- diffusers/PEFT: `unet.<layer>.lora_A.weight`, `text_encoder.<layer>...`, `text_encoder_2.`,
  the older `...processor.to_q_lora.down.weight`, and a `base_model.model.` prefix.
Every name is reduced to a component ("unet", "te0", "te1") and the layer path with underscores,
and the model side is indexed the same way, in both UNet layouts, so a lookup is one dict access.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from modules.models.original_layout import LayoutError, unet_to_original
from modules.models.sd_model import LoadedModel

# Parameter suffixes -> our canonical parameter names (longest first wins).
_SUFFIXES: tuple[tuple[str, str], ...] = (
    (".lora_linear_layer.down.weight", "lora_down"), (".lora_linear_layer.up.weight", "lora_up"),
    ("_lora.down.weight", "lora_down"), ("_lora.up.weight", "lora_up"),
    (".lora.down.weight", "lora_down"), (".lora.up.weight", "lora_up"),
    (".lora_down.weight", "lora_down"), (".lora_up.weight", "lora_up"), (".lora_mid.weight", "lora_mid"),
    (".lora_A.weight", "lora_down"), (".lora_B.weight", "lora_up"),
    (".lora_A.default.weight", "lora_down"), (".lora_B.default.weight", "lora_up"),
    (".alpha", "alpha"), (".dora_scale", "dora_scale"), (".on_input", "on_input"),
    (".hada_w1_a", "hada_w1_a"), (".hada_w1_b", "hada_w1_b"), (".hada_w2_a", "hada_w2_a"),
    (".hada_w2_b", "hada_w2_b"), (".hada_t1", "hada_t1"), (".hada_t2", "hada_t2"),
    (".lokr_w1_a", "lokr_w1_a"), (".lokr_w1_b", "lokr_w1_b"), (".lokr_w2_a", "lokr_w2_a"),
    (".lokr_w2_b", "lokr_w2_b"), (".lokr_w1", "lokr_w1"), (".lokr_w2", "lokr_w2"), (".lokr_t2", "lokr_t2"),
    (".diff_b", "diff_b"), (".diff", "diff"), (".weight", "weight"),
)
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("lora_unet_", "unet"), ("lora_te1_", "te0"), ("lora_te2_", "te1"), ("lora_te_", "te0"),
    ("unet.", "unet"), ("text_encoder_2.", "te1"), ("text_encoder.", "te0"),
    ("lycoris_unet_", "unet"), ("lycoris_te_", "te0"),
)
TargetKey = tuple[str, str]  # (component, layer with underscores)


@dataclass(frozen=True)
class TargetModule:
    """A layer of the loaded model a LoRA can change."""

    component: str  # "unet", "te0", "te1"
    name: str  # dotted module path inside that component
    module: Any  # torch.nn.Linear / Conv2d / LayerNorm / GroupNorm


def split_key(key: str) -> tuple[TargetKey, str] | None:
    """`lora_unet_x_y.lora_up.weight` -> (("unet", "x_y"), "lora_up"); None when not a LoRA key."""
    key = key.removeprefix("base_model.model.")
    found = next(((suffix, canon) for suffix, canon in _SUFFIXES if key.endswith(suffix)), None)
    if found is None:
        return None
    suffix, param = found
    layer = key[: -len(suffix)]
    component = None
    for prefix, comp in _PREFIXES:
        if layer.startswith(prefix):
            component, layer = comp, layer[len(prefix):]
            break
    if component is None:
        component = "te0" if layer.startswith("text_model") else "unet"
    layer = layer.replace(".processor.", ".").replace("to_out_lora", "to_out.0")
    layer = re.sub(r"\.(to_[qkv])_lora$", r".\1", layer)
    flat = layer.replace(".", "_")
    if component.startswith("te") and not flat.startswith("text_model_"):
        flat = "text_model_" + flat
    return (component, flat), param


Groups = dict[TargetKey, dict[str, torch.Tensor]]


def group_lora_keys(state_dict: Mapping[str, torch.Tensor]) -> tuple[Groups, list[str]]:
    """Group a LoRA file's tensors by target layer; returns (groups, keys not understood)."""
    groups: dict[TargetKey, dict[str, torch.Tensor]] = {}
    unknown: list[str] = []
    for key, value in state_dict.items():
        split = split_key(key)
        if split is None or not isinstance(value, torch.Tensor):
            unknown.append(key)
            continue
        target, param = split
        groups.setdefault(target, {})[param] = value
    # a lone ".weight" only means (IA)^3 when there is nothing else in the group
    for params in groups.values():
        if "weight" in params and len(params) > 1 and "on_input" not in params:
            params.pop("weight")
    return groups, unknown


_PATCHABLE = (torch.nn.Linear, torch.nn.Conv2d, torch.nn.LayerNorm, torch.nn.GroupNorm)


def model_targets(model: LoadedModel) -> dict[TargetKey, TargetModule]:
    """Every patchable layer of the model under each name a LoRA may use for it.

    Built per call (a few ms for a full SD1 UNet): caching it on the model would outlive a VAE or
    module swap, and there is no module-level state to keep it in.
    """
    index: dict[TargetKey, TargetModule] = {}
    unet_layers = {n: m for n, m in model.unet.named_modules() if isinstance(m, _PATCHABLE)}
    original = _original_unet_names(model, list(unet_layers))
    for name, module in unet_layers.items():
        target = TargetModule("unet", name, module)
        index[("unet", name.replace(".", "_"))] = target
        if name in original:
            index.setdefault(("unet", original[name].replace(".", "_")), target)
    for i, bundle in enumerate(model.text_encoders):
        component = f"te{i}"
        for name, module in bundle.model.named_modules():
            if isinstance(module, _PATCHABLE):
                flat = name.replace(".", "_")
                if not flat.startswith("text_model_"):
                    flat = "text_model_" + flat
                index[(component, flat)] = TargetModule(component, name, module)
    return index


def _original_unet_names(model: LoadedModel, names: list[str]) -> dict[str, str]:
    """diffusers UNet module path -> original-layout path (`input_blocks.1.1.proj_in`), where one exists."""
    out: dict[str, str] = {}
    for name in names:
        try:
            mapped = unet_to_original({name + ".weight": None}, model.unet.config, prefix="")  # type: ignore[dict-item]
        except (LayoutError, KeyError, TypeError):
            continue
        out[name] = next(iter(mapped)).removesuffix(".weight")
    return out
