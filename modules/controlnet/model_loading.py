"""Build a diffusers `ControlNetModel` from any common ControlNet file layout, offline.

Layouts: lllyasviel's original ones (`.pth`/`.safetensors`, v1.0 full files with `control_model.`
keys beside a whole SD model, v1.1 files with or without that prefix, SDXL ones with `label_emb`),
diffusers single files (`controlnet_cond_embedding.*` keys) and diffusers folders (config.json +
weights). The architecture is read from the weights' shapes; what shapes cannot tell (attention
head sizes, the SDXL time-embedding width, norm groups) comes from the checkpoint's own UNet config,
so no config is ever fetched from a hub. Pickles go through the restricted unpickler.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from modules.controlnet.model_files import ControlNetFile
from modules.models.sd_model import ModelFamily
from modules.models.state_dict import CheckpointLoadError, read_state_dict

LDM_PREFIX = "control_model."
FAMILY_SD1, FAMILY_SD2, FAMILY_SDXL = "SD1.x", "SD2.x", "SDXL"


class ControlNetLoadError(Exception):
    """A ControlNet file cannot be used (unreadable, unsupported layout, or the wrong family)."""


@dataclass
class LoadedControlNet:
    """A ready ControlNetModel plus what the injection needs to know about it."""

    model: Any  # diffusers ControlNetModel
    family: str  # FAMILY_SD1 / FAMILY_SD2 / FAMILY_SDXL
    title: str
    global_pooling: bool = False  # shuffle-type models: residuals averaged over space


def checkpoint_family(family: ModelFamily) -> str:
    """The ControlNet family a checkpoint accepts (inpainting variants take the base ones)."""
    if family.is_sdxl:
        return FAMILY_SDXL
    return FAMILY_SD2 if family.is_sd2 else FAMILY_SD1


def load_controlnet(entry: ControlNetFile, unet_config: Mapping[str, Any], family: ModelFamily,
                    device: torch.device, dtype: torch.dtype) -> LoadedControlNet:
    """Load one ControlNet (or T2I-Adapter) for a checkpoint of `family` whose UNet has `unet_config`."""
    from modules.controlnet import adapter_loading

    if entry.is_folder and adapter_loading.is_adapter_folder(entry.path):
        loaded = adapter_loading.load_adapter_folder(entry, unet_config, family, dtype)
        loaded.model = loaded.model.to(device)
        return loaded
    if entry.is_folder:
        model = _load_folder(entry.path, dtype)
        cn_family = _family_from_config(model.config)
        _check_family(cn_family, family, entry)
    else:
        state = _read(entry.path)
        adapter = adapter_loading.adapter_weights(state, entry.path.name, unet_config)
        if adapter is not None:
            loaded = adapter_loading.load_adapter_file(entry, adapter, unet_config, family, dtype)
            loaded.model = loaded.model.to(device)
            return loaded
        weights = _diffusers_weights(state, entry.path)
        cn_family = _family_from_weights(weights)
        _check_family(cn_family, family, entry)
        config = controlnet_config(weights, unet_config)
        _check_context(config, unet_config, entry)
        model = _assemble_controlnet(config, weights, entry.path, dtype)
    _check_context(dict(model.config), unet_config, entry)
    model = model.to(device).eval().requires_grad_(False)
    return LoadedControlNet(model, cn_family, entry.title, global_pooling="shuffle" in entry.stem.lower())


def _read(path: Path) -> dict[str, torch.Tensor]:
    try:
        return read_state_dict(path)
    except CheckpointLoadError as err:
        raise ControlNetLoadError(str(err).replace("Checkpoint", "ControlNet model")) from err


def _unsupported_layout(keys: set[str]) -> str | None:
    if any(k.startswith(("lora_controlnet", "lora_")) for k in keys) or "lora_controlnet" in keys:
        return "a Control-LoRA"
    if any("lllite" in k for k in keys):
        return "a ControlLLLite model"
    return None


def _diffusers_weights(state: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """Any single-file layout -> diffusers ControlNetModel key names."""
    if any(k.startswith(LDM_PREFIX) for k in state):
        state = {k[len(LDM_PREFIX):]: v for k, v in state.items() if k.startswith(LDM_PREFIX)}
    keys = set(state)
    if "controlnet_cond_embedding.conv_in.weight" in keys:
        return state
    if "input_hint_block.0.weight" in keys:
        return ldm_to_diffusers(state)
    kind = _unsupported_layout(keys)
    if kind:
        raise ControlNetLoadError(f"'{path.name}' is {kind}; only ControlNet models and T2I-Adapters are "
                                  "supported (Control-LoRAs and ControlLLLite are not).")
    raise ControlNetLoadError(f"'{path.name}' is not a ControlNet model: it has neither "
                              "'input_hint_block.*' (original layout) nor 'controlnet_cond_embedding.*' "
                              "(diffusers layout) weights, nor a T2I-Adapter's.")


def ldm_to_diffusers(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Original (lllyasviel) key names -> diffusers, with diffusers' own converter plus SDXL's label_emb."""
    from diffusers.loaders.single_file_utils import convert_controlnet_checkpoint

    downsamplers = sorted(int(k.split(".")[1]) for k in state
                          if k.startswith("input_blocks.") and k.endswith(".0.op.weight"))
    n_inputs = len({k.split(".")[1] for k in state if k.startswith("input_blocks.")})
    layers = downsamplers[0] - 1 if downsamplers else n_inputs - 1
    converted = convert_controlnet_checkpoint(dict(state), {"layers_per_block": layers})
    for i in (0, 2):
        for part in ("weight", "bias"):
            key = f"label_emb.0.{i}.{part}"
            if key in state:
                converted[f"add_embedding.linear_{1 if i == 0 else 2}.{part}"] = state[key]
    return {k: v for k, v in converted.items() if v is not None}


def _count(weights: Mapping[str, Any], prefix: str) -> int:
    found = {k[len(prefix):].split(".")[0] for k in weights if k.startswith(prefix)}
    return len([f for f in found if f.isdigit()])


def controlnet_config(weights: Mapping[str, torch.Tensor], unet_config: Mapping[str, Any]) -> dict[str, Any]:
    """ControlNetModel config from diffusers-named weights' shapes, plus the UNet's unreadable sizes."""
    levels = _count(weights, "down_blocks.")
    if levels == 0:
        raise ControlNetLoadError("The ControlNet weights have no down blocks.")
    blocks = [int(weights[f"down_blocks.{i}.resnets.0.conv1.weight"].shape[0]) for i in range(levels)]
    has_attn = [any(k.startswith(f"down_blocks.{i}.attentions.") for k in weights) for i in range(levels)]
    # SDXL's "mid"/"small" ControlNets keep attention blocks with 0 transformer layers at some levels.
    transformer_layers = [_count(weights, f"down_blocks.{i}.attentions.0.transformer_blocks.") if has_attn[i] else 1
                          for i in range(levels)]
    embedding = [int(weights["controlnet_cond_embedding.conv_in.weight"].shape[0])]
    n_cond_blocks = _count(weights, "controlnet_cond_embedding.blocks.")
    embedding += [int(weights[f"controlnet_cond_embedding.blocks.{j}.weight"].shape[0])
                  for j in range(1, n_cond_blocks, 2)]
    proj = next((v for k, v in weights.items() if k.endswith("proj_in.weight")), None)
    context = next((v for k, v in weights.items() if k.endswith("attn2.to_k.weight")), None)
    config: dict[str, Any] = {
        "in_channels": int(weights["conv_in.weight"].shape[1]),
        "conditioning_channels": int(weights["controlnet_cond_embedding.conv_in.weight"].shape[1]),
        "block_out_channels": blocks,
        "down_block_types": ["CrossAttnDownBlock2D" if a else "DownBlock2D" for a in has_attn],
        "layers_per_block": _count(weights, "down_blocks.0.resnets."),
        "transformer_layers_per_block": transformer_layers,
        "cross_attention_dim": int(context.shape[1]) if context is not None
        else int(unet_config["cross_attention_dim"]),
        "use_linear_projection": proj is not None and proj.ndim == 2,
        "conditioning_embedding_out_channels": embedding,
        "attention_head_dim": _per_level(unet_config.get("attention_head_dim", 8), levels),
        "norm_num_groups": int(unet_config.get("norm_num_groups", 32)),
        "upcast_attention": bool(unet_config.get("upcast_attention", False)),
    }
    if unet_config.get("num_attention_heads") is not None:
        config["num_attention_heads"] = _per_level(unet_config["num_attention_heads"], levels)
    if not any(k.startswith("mid_block.attentions.") for k in weights):
        config["mid_block_type"] = None if not any(k.startswith("mid_block.") for k in weights) else "UNetMidBlock2D"
    if "add_embedding.linear_1.weight" in weights:
        config.update(addition_embed_type="text_time",
                      addition_time_embed_dim=int(unet_config.get("addition_time_embed_dim") or 256),
                      projection_class_embeddings_input_dim=int(weights["add_embedding.linear_1.weight"].shape[1]))
    return config


def _per_level(value: Any, levels: int) -> Any:
    if isinstance(value, (list, tuple)):
        return list(value)[:levels]
    return value


def _assemble_controlnet(config: dict[str, Any], weights: dict[str, torch.Tensor], path: Path,
                         dtype: torch.dtype) -> Any:
    from diffusers import ControlNetModel

    from modules.models.loader import _assemble

    try:
        return _assemble(lambda: ControlNetModel(**config), weights, "ControlNet", path, torch.device("cpu"), dtype)
    except CheckpointLoadError as err:
        raise ControlNetLoadError(str(err)) from err
    except (TypeError, ValueError) as err:
        raise ControlNetLoadError(f"'{path.name}' has an architecture ControlNet cannot be built with: {err}") from err


def _load_folder(folder: Path, dtype: torch.dtype) -> Any:
    from diffusers import ControlNetModel

    try:
        json.loads((folder / "config.json").read_text(encoding="utf-8"))
        return ControlNetModel.from_pretrained(str(folder), local_files_only=True, torch_dtype=dtype)
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        raise ControlNetLoadError(f"The ControlNet folder '{folder}' could not be loaded: {err}") from err


def _family_from_weights(weights: Mapping[str, torch.Tensor]) -> str:
    if "add_embedding.linear_1.weight" in weights:
        return FAMILY_SDXL
    proj = next((v for k, v in weights.items() if k.endswith("proj_in.weight")), None)
    return FAMILY_SD2 if proj is not None and proj.ndim == 2 else FAMILY_SD1


def _family_from_config(config: Any) -> str:
    if getattr(config, "addition_embed_type", None) == "text_time":
        return FAMILY_SDXL
    return FAMILY_SD2 if getattr(config, "use_linear_projection", False) else FAMILY_SD1


def _check_family(cn_family: str, family: ModelFamily, entry: ControlNetFile) -> None:
    wanted = checkpoint_family(family)
    if family is ModelFamily.SDXL_REFINER or cn_family != wanted:
        target = "an SDXL refiner" if family is ModelFamily.SDXL_REFINER else f"an {wanted} checkpoint"
        raise ControlNetLoadError(
            f"ControlNet model '{entry.title}' is for {cn_family} models, but the loaded checkpoint is "
            f"{target}; choose a {checkpoint_family(family) if family is not ModelFamily.SDXL_REFINER else 'base'} "
            "ControlNet or switch the checkpoint.")


def _check_context(config: Mapping[str, Any], unet_config: Mapping[str, Any], entry: ControlNetFile) -> None:
    mine, theirs = config.get("cross_attention_dim"), unet_config.get("cross_attention_dim")
    if mine is not None and theirs is not None and int(mine) != int(theirs):
        raise ControlNetLoadError(
            f"ControlNet model '{entry.title}' expects {mine}-wide text conditioning but the loaded "
            f"checkpoint's UNet uses {theirs}; they belong to different model families.")
