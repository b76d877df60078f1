"""Build a diffusers `T2IAdapter` from a T2I-Adapter file or folder in `models/ControlNet`, offline.

An adapter is a control model of its own kind: it turns the control map into one feature map per
UNet level, which the UNet adds inside its down blocks (`down_intrablock_additional_residuals`).
Original TencentARC files (`.pth` through the restricted unpickler, or `.safetensors`) are renamed
to diffusers' keys (adapter_layout.py); the architecture comes from the weights' shapes. Family:
the 8x8-cell adapters (full and light) are SD1.x's (every released one is), the 16x16-cell full
adapter is SDXL's; the widths must also equal the checkpoint UNet's, level by level.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from modules.controlnet import adapter_layout as layout
from modules.controlnet.model_files import ControlNetFile
from modules.controlnet.model_loading import (
    FAMILY_SD1,
    FAMILY_SDXL,
    ControlNetLoadError,
    LoadedControlNet,
    checkpoint_family,
)
from modules.models.sd_model import ModelFamily

ADAPTER_CLASS = "T2IAdapter"


def is_t2i_adapter(model: Any) -> bool:
    """Whether a loaded control model is a T2I-Adapter (its output goes inside the down blocks)."""
    from diffusers import T2IAdapter

    return isinstance(model, T2IAdapter)


def is_adapter_folder(folder: Path) -> bool:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get("_class_name") == ADAPTER_CLASS


def adapter_weights(state: dict[str, torch.Tensor], name: str, unet_config: Mapping[str, Any]
                    ) -> dict[str, torch.Tensor] | None:
    """Diffusers-named adapter weights from any adapter layout; None when `state` is no adapter."""
    kind = layout.adapter_layout(set(state))
    if kind is None:
        return None
    if kind == layout.STYLE:
        raise ControlNetLoadError(
            f"'{name}' is a T2I style adapter (CLIP-vision tokens); style adapters are not supported, "
            "only the map-based T2I-Adapters (sketch, canny, depth, color, ...) are.")
    if kind == layout.EARLY:
        raise ControlNetLoadError(
            f"'{name}' is an early T2I-Adapter layout (skip and downsampling convolutions) that is not "
            "supported; use the adapter's later release.")
    try:
        if kind == layout.ORIGINAL_FULL:
            return layout.original_full_to_diffusers(state, len(unet_config.get("block_out_channels", ())))
        if kind == layout.ORIGINAL_LIGHT:
            return layout.original_light_to_diffusers(state)
    except layout.AdapterLayoutError as err:
        raise ControlNetLoadError(f"'{name}' is a T2I-Adapter that cannot be read: it has {err}.") from err
    return {k: v for k, v in state.items() if k.startswith("adapter.")}


def load_adapter_file(entry: ControlNetFile, weights: dict[str, torch.Tensor], unet_config: Mapping[str, Any],
                      family: ModelFamily, dtype: torch.dtype) -> LoadedControlNet:
    """An adapter from diffusers-named weights (see `adapter_weights`), checked against the checkpoint."""
    try:
        config = layout.adapter_config(weights)
    except layout.AdapterLayoutError as err:
        raise ControlNetLoadError(f"'{entry.path.name}' is a T2I-Adapter that cannot be read: it has {err}.") from err
    adapter_family = FAMILY_SDXL if config["adapter_type"] == layout.FULL_XL else FAMILY_SD1
    check_adapter(entry, adapter_family, config, unet_config, family)
    return LoadedControlNet(_assemble(config, weights, entry.path, dtype), adapter_family, entry.title)


def load_adapter_folder(entry: ControlNetFile, unet_config: Mapping[str, Any], family: ModelFamily,
                        dtype: torch.dtype) -> LoadedControlNet:
    from diffusers import T2IAdapter

    try:
        model = T2IAdapter.from_pretrained(str(entry.path), local_files_only=True, torch_dtype=dtype)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as err:
        raise ControlNetLoadError(f"The T2I-Adapter folder '{entry.path}' could not be loaded: {err}") from err
    config = dict(model.config)
    adapter_family = FAMILY_SDXL if config.get("adapter_type") == layout.FULL_XL else FAMILY_SD1
    check_adapter(entry, adapter_family, config, unet_config, family)
    return LoadedControlNet(model.eval().requires_grad_(False), adapter_family, entry.title)


def check_adapter(entry: ControlNetFile, adapter_family: str, config: Mapping[str, Any],
                  unet_config: Mapping[str, Any], family: ModelFamily) -> None:
    """Same family as the checkpoint, and one feature width per UNet level that fits it."""
    wanted = checkpoint_family(family)
    if family is ModelFamily.SDXL_REFINER or adapter_family != wanted:
        target = "an SDXL refiner" if family is ModelFamily.SDXL_REFINER else f"an {wanted} checkpoint"
        raise ControlNetLoadError(
            f"T2I-Adapter '{entry.title}' is for {adapter_family} models, but the loaded checkpoint is "
            f"{target}; choose an adapter or ControlNet made for the checkpoint's family, or switch the checkpoint.")
    widths = layout.feature_widths(config)
    levels = [int(c) for c in unet_config.get("block_out_channels", ())]
    if widths[: len(levels)] != levels:
        raise ControlNetLoadError(
            f"T2I-Adapter '{entry.title}' makes features {widths} wide but the loaded checkpoint's UNet "
            f"levels are {levels} wide; they do not fit together.")


def _assemble(config: dict[str, Any], weights: dict[str, torch.Tensor], path: Path, dtype: torch.dtype) -> Any:
    from diffusers import T2IAdapter

    model = T2IAdapter(**config)
    try:
        missing, unexpected = model.load_state_dict(weights, strict=False)
    except RuntimeError as err:  # a shape that does not fit
        raise ControlNetLoadError(f"'{path.name}' does not fit a {config['adapter_type']} T2I-Adapter: {err}") from err
    if missing or unexpected:
        raise ControlNetLoadError(
            f"'{path.name}' does not fit a {config['adapter_type']} T2I-Adapter: "
            f"missing {sorted(missing)[:4]}, unexpected {sorted(unexpected)[:4]}")
    if next(model.parameters()).dtype != dtype:
        torch.nn.Module.to(model, dtype=dtype)  # plain cast: every adapter weight follows the UNet's dtype
    return model.eval().requires_grad_(False)
