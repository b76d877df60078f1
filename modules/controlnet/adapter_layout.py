"""T2I-Adapter files: which layout a state dict is in, and TencentARC's original keys -> diffusers'.

Layouts, told apart by their keys (never by the file name):
- diffusers (`adapter.conv_in.*`, `adapter.body.N.resnets.M.*`; the light adapter adds
  `adapter.body.N.in_conv/out_conv` around its resnets);
- TencentARC's full adapter (`Adapter` with `sk=True, ksize=1, use_conv=False`, as every released
  sd14v1/sd15v2 adapter but color and style): `conv_in.*`, `body.K.block1/block2.*` with K counting
  the resnets of all levels, `body.K.in_conv.*` where a level widens;
- TencentARC's light adapter (`Adapter_light`, the color adapter): `body.N.in_conv/out_conv.*` and
  `body.N.body.M.block1/block2.*`;
- the style adapter (CLIP-vision tokens: `style_embedding`, `transformer_layes.*`) and the early
  full-adapter variant with skip/downsampling convolutions (`skep`, `down_opt.op`) are recognised
  and refused, since diffusers' `T2IAdapter` cannot hold them.
The architecture (channels, resnets per level, input channels) is read from the weights' shapes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch

FULL, FULL_XL, LIGHT = "full_adapter", "full_adapter_xl", "light_adapter"
ORIGINAL_FULL, ORIGINAL_LIGHT, DIFFUSERS, STYLE, EARLY = "original", "original_light", "diffusers", "style", "early"
_PREFIX = "adapter."


class AdapterLayoutError(ValueError):
    """The weights are a T2I-Adapter that cannot be converted (the message says why)."""


def adapter_layout(keys: set[str]) -> str | None:
    """Which T2I-Adapter layout the keys are in (None: not a T2I-Adapter)."""
    if any(k.startswith("style_embedding") or k.startswith("transformer_layes.") for k in keys):
        return STYLE
    if any(k.startswith(_PREFIX + "body.") for k in keys) and f"{_PREFIX}body.0.resnets.0.block1.weight" in keys:
        return DIFFUSERS
    body = [k for k in keys if k.startswith("body.")]
    if not body:
        return None
    if any(".skep." in k or ".down_opt.op." in k for k in body):
        return EARLY
    if any(re.fullmatch(r"body\.\d+\.body\.\d+\.block1\.weight", k) for k in body):
        return ORIGINAL_LIGHT
    if "conv_in.weight" in keys and any(re.fullmatch(r"body\.\d+\.block1\.weight", k) for k in body):
        return ORIGINAL_FULL
    return None


def _indices(keys: set[str], pattern: str) -> list[int]:
    return sorted({int(m[1]) for k in keys if (m := re.fullmatch(pattern, k))})


def original_full_to_diffusers(state: Mapping[str, torch.Tensor], levels: int) -> dict[str, torch.Tensor]:
    """TencentARC `Adapter` keys -> diffusers `FullAdapter` keys. `levels`: the UNet's down blocks
    (the flat `body.K` numbering does not say where one level ends when the width stays the same)."""
    blocks = _indices(set(state), r"body\.(\d+)\.block1\.weight")
    if not blocks or blocks != list(range(len(blocks))) or levels <= 0 or len(blocks) % levels:
        raise AdapterLayoutError(f"its {len(blocks)} resnet blocks do not divide into the checkpoint UNet's "
                                 f"{levels} levels")
    per_level = len(blocks) // levels
    widening = _indices(set(state), r"body\.(\d+)\.in_conv\.weight")
    if any(k % per_level for k in widening):
        raise AdapterLayoutError(f"a width change inside a level (blocks {widening}, {per_level} per level)")
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith("conv_in."):
            out[_PREFIX + key] = value
        elif m := re.fullmatch(r"body\.(\d+)\.in_conv\.(\w+)", key):
            out[f"{_PREFIX}body.{int(m[1]) // per_level}.in_conv.{m[2]}"] = value
        elif m := re.fullmatch(r"body\.(\d+)\.(block[12])\.(\w+)", key):
            k = int(m[1])
            out[f"{_PREFIX}body.{k // per_level}.resnets.{k % per_level}.{m[2]}.{m[3]}"] = value
        else:
            raise AdapterLayoutError(f"an unexpected weight '{key}'")
    return out


def original_light_to_diffusers(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """TencentARC `Adapter_light` keys -> diffusers `LightAdapter` keys."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if m := re.fullmatch(r"body\.(\d+)\.body\.(\d+)\.(block[12])\.(\w+)", key):
            out[f"{_PREFIX}body.{m[1]}.resnets.{m[2]}.{m[3]}.{m[4]}"] = value
        elif m := re.fullmatch(r"body\.(\d+)\.(in_conv|out_conv)\.(\w+)", key):
            out[f"{_PREFIX}{key}"] = value
        else:
            raise AdapterLayoutError(f"an unexpected weight '{key}'")
    return out


def adapter_config(weights: Mapping[str, torch.Tensor], adapter_type: str | None = None) -> dict[str, Any]:
    """diffusers `T2IAdapter` arguments from diffusers-named weights' shapes. Without a stated type,
    a full adapter whose input is 16x16 pixel cells (in channels a multiple of 256) is SDXL's."""
    keys = set(weights)
    levels = _indices(keys, r"adapter\.body\.(\d+)\.resnets\.0\.block1\.weight")
    if not levels:
        raise AdapterLayoutError("no adapter blocks")
    resnets = len(_indices(keys, r"adapter\.body\.0\.resnets\.(\d+)\.block1\.weight"))
    if f"{_PREFIX}body.0.out_conv.weight" in keys:
        return _light_config(weights, len(levels), resnets)
    widths = [int(weights[f"{_PREFIX}body.{i}.resnets.0.block1.weight"].shape[0]) for i in levels]
    cells_channels = int(weights[f"{_PREFIX}conv_in.weight"].shape[1])
    kind = adapter_type or (FULL_XL if cells_channels % 256 == 0 else FULL)
    factor = 16 if kind == FULL_XL else 8
    if cells_channels % (factor * factor):
        raise AdapterLayoutError(f"an input width ({cells_channels}) that is not a whole number of "
                                 f"{factor}x{factor} pixel cells")
    return {"in_channels": cells_channels // (factor * factor), "channels": widths,
            "num_res_blocks": resnets, "downscale_factor": factor, "adapter_type": kind}


def _light_config(weights: Mapping[str, torch.Tensor], levels: int, resnets: int) -> dict[str, Any]:
    widths = [int(weights[f"{_PREFIX}body.{i}.out_conv.weight"].shape[0]) for i in range(levels)]
    if levels < 2 or widths[-1] != widths[-2]:
        raise AdapterLayoutError(f"light-adapter widths {widths}; diffusers' LightAdapter repeats the last "
                                 "width in its last level")
    for i, width in enumerate(widths):
        if int(weights[f"{_PREFIX}body.{i}.in_conv.weight"].shape[0]) != width // 4:
            raise AdapterLayoutError("light-adapter inner widths other than a quarter of the level's width")
    cells_channels = int(weights[f"{_PREFIX}body.0.in_conv.weight"].shape[1])
    if cells_channels % 64:
        raise AdapterLayoutError(f"an input width ({cells_channels}) that is not a whole number of 8x8 cells")
    return {"in_channels": cells_channels // 64, "channels": widths[:-1], "num_res_blocks": resnets,
            "downscale_factor": 8, "adapter_type": LIGHT}


def feature_widths(config: Mapping[str, Any]) -> list[int]:
    """The channel widths of the features an adapter of `config` makes, level by level."""
    widths = [int(c) for c in config["channels"]]
    return [*widths, widths[-1]] if config.get("adapter_type") == LIGHT else widths
