"""Build an open_clip model from a local file, never from open_clip's download paths.

The architecture comes from open_clip's built-in configs (`ViT-L-14`, ...) or, for one it does not
know, from `config.json` beside the weights (an open_clip model config, bare or as
`{"model_cfg": ..., "preprocess_cfg": ...}`). Weights load from `.safetensors`, or from `.bin` /
`.pt` through the restricted unpickler. The tokenizer is open_clip's SimpleTokenizer, whose BPE
vocabulary ships inside the package; architectures whose tokenizer or text tower would come from
the Hugging Face Hub are refused with a message, since nothing here may download.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import open_clip
import torch
from open_clip.model import CLIP, CustomTextCLIP, get_model_preprocess_cfg
from open_clip.tokenizer import DEFAULT_CONTEXT_LENGTH, SimpleTokenizer
from open_clip.transform import PreprocessCfg, image_transform_v2, merge_preprocess_dict
from safetensors.torch import load_file

from modules.interrogate.folders import ClipModelFile
from modules.models.safe_unpickle import load_pickled_checkpoint


class ClipLoadError(RuntimeError):
    """A CLIP model file exists but cannot be used; the message says why and what to do."""


class ClipBundle(torch.nn.Module):
    """An open_clip model with its image preprocessing and tokenizer, movable as one module."""

    def __init__(self, name: str, model: torch.nn.Module, preprocess: Callable[[Any], torch.Tensor],
                 tokenizer: SimpleTokenizer) -> None:
        super().__init__()
        self.name = name
        self.model = model
        self.preprocess = preprocess
        self.tokenizer = tokenizer


def model_config(file: ClipModelFile) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model config, preprocess overrides): config.json beside the file wins over open_clip's table."""
    if file.config_file.is_file():
        raw = json.loads(file.config_file.read_text(encoding="utf-8"))
        if "model_cfg" in raw:
            return copy.deepcopy(raw["model_cfg"]), dict(raw.get("preprocess_cfg", {}))
        return raw, {}
    cfg = open_clip.get_model_config(file.arch)
    if cfg is None:
        raise ClipLoadError(
            f"'{file.arch}' (folder of {file.path}) is not an architecture open_clip knows: name the folder "
            f"after one (e.g. ViT-L-14, ViT-B-32) or put its open_clip model config into {file.config_file}.")
    tag_cfg = open_clip.get_pretrained_cfg(file.arch, file.path.stem)
    if tag_cfg.get("quick_gelu"):
        cfg["quick_gelu"] = True  # e.g. the openai weights were trained with QuickGELU
    return cfg, {k: tag_cfg[k] for k in ("mean", "std", "interpolation", "resize_mode") if k in tag_cfg}


def _refuse_hub_parts(cfg: dict[str, Any], file: ClipModelFile) -> None:
    text_cfg = cfg.get("text_cfg", {})
    if "hf_model_name" in text_cfg or text_cfg.get("hf_tokenizer_name") or "siglip" in file.arch.lower():
        raise ClipLoadError(
            f"'{file.name}' needs a text tower or tokenizer from the Hugging Face Hub, which this app never "
            "downloads; use an architecture with open_clip's built-in tokenizer (ViT-*, RN*, convnext_*).")
    if "timm_model_name" in cfg.get("vision_cfg", {}):
        cfg["vision_cfg"]["timm_model_pretrained"] = False  # the file holds the weights


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix.lower() == ".safetensors":
        state: Any = load_file(str(path))
    else:
        state = load_pickled_checkpoint(path)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ClipLoadError(f"{path} does not hold a state dict of an open_clip model.")
    return {(k[7:] if k.startswith("module.") else k): v for k, v in state.items()}


def _load_weights(model: torch.nn.Module, path: Path, name: str) -> None:
    state = _read_state_dict(path)
    if "logit_scale" in state and state["logit_scale"].ndim != model.logit_scale.ndim:
        state["logit_scale"] = state["logit_scale"].reshape(model.logit_scale.shape)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k != "logit_bias"]
    if missing or unexpected:
        raise ClipLoadError(
            f"{path} does not match the architecture of '{name}': {len(missing)} weights missing "
            f"(e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]}). Check the folder "
            "name (the architecture) or its config.json.")


def load_clip(file: ClipModelFile) -> ClipBundle:
    """The model of `file` on the CPU in float32, ready for clip-interrogator."""
    cfg, preprocess_overrides = model_config(file)
    _refuse_hub_parts(cfg, file)
    custom_text = bool(cfg.pop("custom_text", False))
    model = (CustomTextCLIP if custom_text else CLIP)(**cfg)
    _load_weights(model, file.path, file.name)
    model.float().eval().requires_grad_(False)
    preprocess_cfg = merge_preprocess_dict(get_model_preprocess_cfg(model), preprocess_overrides)
    preprocess = image_transform_v2(PreprocessCfg(**preprocess_cfg), is_train=False)
    text_cfg = cfg.get("text_cfg", {})
    tokenizer = SimpleTokenizer(context_length=text_cfg.get("context_length", DEFAULT_CONTEXT_LENGTH),
                                **text_cfg.get("tokenizer_kwargs", {}))
    return ClipBundle(file.name, model, preprocess, tokenizer)
