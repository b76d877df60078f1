"""diffusers ControlNetModel weights -> lllyasviel's original layout (what the extension's users share).

The encoder half is the UNet's own layout (shared with the checkpoint writer); the ControlNet parts
are renamed here: the hint encoder (`input_hint_block.{0,2,...,14}`), the zero convolutions
(`zero_convs.N.0`) and the middle output (`middle_block_out.0`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch

from modules.models.original_layout import _unet_key

LDM_PREFIX = "control_model."


def _controlnet_key(key: str, layers: int, hint_blocks: int) -> str:
    if m := re.fullmatch(r"controlnet_cond_embedding\.conv_in\.(\w+)", key):
        return f"input_hint_block.0.{m[1]}"
    if m := re.fullmatch(r"controlnet_cond_embedding\.blocks\.(\d+)\.(\w+)", key):
        return f"input_hint_block.{2 * (int(m[1]) + 1)}.{m[2]}"
    if m := re.fullmatch(r"controlnet_cond_embedding\.conv_out\.(\w+)", key):
        return f"input_hint_block.{2 * (hint_blocks + 1)}.{m[1]}"
    if m := re.fullmatch(r"controlnet_down_blocks\.(\d+)\.(\w+)", key):
        return f"zero_convs.{m[1]}.0.{m[2]}"
    if m := re.fullmatch(r"controlnet_mid_block\.(\w+)", key):
        return f"middle_block_out.0.{m[1]}"
    return _unet_key(key, layers, [])


def controlnet_to_original(state: Mapping[str, torch.Tensor], config: Mapping[str, Any],
                           prefix: str = LDM_PREFIX) -> dict[str, torch.Tensor]:
    """Rename every weight; `prefix` "" writes the v1.1 files' prefix-less variant."""
    hint_blocks = 2 * (len(config["conditioning_embedding_out_channels"]) - 1)
    layers = int(config["layers_per_block"])
    return {prefix + _controlnet_key(k, layers, hint_blocks): v.contiguous() for k, v in state.items()}
