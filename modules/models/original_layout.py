"""diffusers/transformers → original (LDM/SGM) single-file layout, and the matching model yaml.

diffusers ships only the original→diffusers direction. We need the reverse to write checkpoints in
the layout users and A1111 use (tiny test models, the demo model, merges, exports). The index rules
follow from the config: input block k = 1 + i·(L+1) + j for level i, resnet j (L = layers per block),
the downsampler at (i+1)·(L+1); output block i·(L+1)+j for up block i, the upsampler at index 2 of
the last output block of a level with attention, else 1; VAE up blocks are numbered in reverse; VAE
mid-attention q/k/v/proj are 1×1 convolutions in the original layout.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import yaml

from modules.models.configs import CONFIG_FILES, DEFAULT_CONFIGS_DIR, read_yaml
from modules.models.sd_model import ModelFamily, TextEncoderKind

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
SD1_CLIP_PREFIX = "cond_stage_model.transformer."
SD2_CLIP_PREFIX = "cond_stage_model.model."
SDXL_CLIP_L_PREFIX = "conditioner.embedders.0.transformer."
SDXL_CLIP_G_PREFIX = "conditioner.embedders.1.model."
REFINER_CLIP_G_PREFIX = "conditioner.embedders.0.model."

_UNET_RESNET = (
    ("norm1", "in_layers.0"),
    ("conv1", "in_layers.2"),
    ("time_emb_proj", "emb_layers.1"),
    ("norm2", "out_layers.0"),
    ("conv2", "out_layers.3"),
    ("conv_shortcut", "skip_connection"),
)
_UNET_TOP = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "add_embedding.linear_1": "label_emb.0.0",
    "add_embedding.linear_2": "label_emb.0.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}
_VAE_ATTN = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


class LayoutError(ValueError):
    """A module cannot be expressed in the original layout (or its text encoder would not reload)."""


def _split_param(key: str) -> tuple[str, str]:
    module, _, param = key.rpartition(".")
    return module, param


def _rename_resnet(rest: str) -> str:
    for new, old in _UNET_RESNET:
        if rest.startswith(new + "."):
            return old + rest[len(new) :]
    raise LayoutError(f"Unknown UNet resnet parameter '{rest}'.")


def _unet_key(key: str, layers: int, up_has_attention: Sequence[bool]) -> str:
    module, param = _split_param(key)
    if module in _UNET_TOP:
        return f"{_UNET_TOP[module]}.{param}"
    if m := re.fullmatch(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
        i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        block = 1 + i * (layers + 1) + j
        return (
            f"input_blocks.{block}.0.{_rename_resnet(rest)}"
            if kind == "resnets"
            else f"input_blocks.{block}.1.{rest}"
        )
    if m := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
        return f"input_blocks.{(int(m[1]) + 1) * (layers + 1)}.0.op.{m[2]}"
    if m := re.fullmatch(r"mid_block\.resnets\.(\d)\.(.+)", key):
        return f"middle_block.{2 * int(m[1])}.{_rename_resnet(m[2])}"
    if m := re.fullmatch(r"mid_block\.attentions\.0\.(.+)", key):
        return f"middle_block.1.{m[1]}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
        i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        block = i * (layers + 1) + j
        return (
            f"output_blocks.{block}.0.{_rename_resnet(rest)}"
            if kind == "resnets"
            else f"output_blocks.{block}.1.{rest}"
        )
    if m := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
        i = int(m[1])
        return f"output_blocks.{i * (layers + 1) + layers}.{2 if up_has_attention[i] else 1}.conv.{m[2]}"
    raise LayoutError(f"UNet parameter '{key}' has no place in the original layout.")


def unet_to_original(
    unet_state_dict: Mapping[str, torch.Tensor], unet_config: Mapping[str, Any], prefix: str = UNET_PREFIX
) -> dict[str, torch.Tensor]:
    """diffusers UNet2DConditionModel weights → `model.diffusion_model.*` (prefix configurable)."""
    layers = unet_config["layers_per_block"]
    if not isinstance(layers, int):
        raise LayoutError("layers_per_block must be one integer to fit the original layout.")
    up_attn = [t.startswith("CrossAttn") for t in unet_config["up_block_types"]]
    return {prefix + _unet_key(k, layers, up_attn): v for k, v in unet_state_dict.items()}


def _vae_key(key: str, num_blocks: int) -> str:
    key = key.replace("conv_norm_out", "norm_out").replace("conv_shortcut", "nin_shortcut")
    if m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.resnets\.(.+)", key):
        return f"encoder.down.{m[1]}.block.{m[2]}"
    if m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
        return f"encoder.down.{m[1]}.downsample.conv.{m[2]}"
    if m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.resnets\.(.+)", key):
        return f"decoder.up.{num_blocks - 1 - int(m[1])}.block.{m[2]}"
    if m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
        return f"decoder.up.{num_blocks - 1 - int(m[1])}.upsample.conv.{m[2]}"
    if m := re.fullmatch(r"(encoder|decoder)\.mid_block\.resnets\.(\d)\.(.+)", key):
        return f"{m[1]}.mid.block_{int(m[2]) + 1}.{m[3]}"
    if m := re.fullmatch(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.+)\.(weight|bias)", key):
        if m[2] not in _VAE_ATTN:
            raise LayoutError(f"VAE attention parameter '{key}' has no place in the original layout.")
        return f"{m[1]}.mid.attn_1.{_VAE_ATTN[m[2]]}.{m[3]}"
    if re.fullmatch(
        r"(encoder|decoder)\.(conv_in|conv_out|norm_out)\.(weight|bias)|(post_)?quant_conv\.(weight|bias)",
        key,
    ):
        return key
    raise LayoutError(f"VAE parameter '{key}' has no place in the original layout.")


def vae_to_original(
    vae_state_dict: Mapping[str, torch.Tensor], vae_config: Mapping[str, Any], prefix: str = VAE_PREFIX
) -> dict[str, torch.Tensor]:
    """diffusers AutoencoderKL weights → `first_stage_model.*`; pass prefix="" for a standalone VAE file."""
    num_blocks = len(vae_config["block_out_channels"])
    out = {}
    for key, value in vae_state_dict.items():
        new = _vae_key(key, num_blocks)
        if ".mid.attn_1." in new and new.endswith(".weight") and value.ndim == 2:
            value = value[:, :, None, None]  # linear → 1×1 conv
        out[prefix + new] = value
    return out


def clip_l_to_original(
    text_state_dict: Mapping[str, torch.Tensor], prefix: str = SD1_CLIP_PREFIX
) -> dict[str, torch.Tensor]:
    """transformers CLIPTextModel weights → `<prefix>text_model.*` (the level transformers>=5.6 drops)."""
    return {
        prefix + (k if k.startswith("text_model.") else "text_model." + k): v
        for k, v in text_state_dict.items()
        if not k.endswith("position_ids") and k != "text_projection.weight"
    }


_OPEN_CLIP_LAYER = (
    ("layer_norm1.", "ln_1."),
    ("layer_norm2.", "ln_2."),
    ("mlp.fc1.", "mlp.c_fc."),
    ("mlp.fc2.", "mlp.c_proj."),
    ("self_attn.out_proj.", "attn.out_proj."),
)
_OPEN_CLIP_TOP = {
    "embeddings.token_embedding.weight": "token_embedding.weight",
    "embeddings.position_embedding.weight": "positional_embedding",
    "final_layer_norm.weight": "ln_final.weight",
    "final_layer_norm.bias": "ln_final.bias",
}


def open_clip_to_original(
    text_state_dict: Mapping[str, torch.Tensor], prefix: str
) -> dict[str, torch.Tensor]:
    """transformers CLIP(WithProjection) weights → open_clip layout under `prefix`.

    q/k/v are fused into `attn.in_proj_*`, and `text_projection` is stored transposed (open_clip
    multiplies `x @ text_projection`).
    """
    flat = {
        k.removeprefix("text_model."): v for k, v in text_state_dict.items() if not k.endswith("position_ids")
    }
    out: dict[str, torch.Tensor] = {}
    for key, value in flat.items():
        if key == "text_projection.weight":
            out[prefix + "text_projection"] = value.T.contiguous()
        elif key in _OPEN_CLIP_TOP:
            out[prefix + _OPEN_CLIP_TOP[key]] = value
        elif not re.search(r"self_attn\.[qkv]_proj\.", key):
            out[prefix + _open_clip_layer_key(key)] = value
    for key in flat:
        if m := re.fullmatch(r"encoder\.layers\.(\d+)\.self_attn\.q_proj\.(weight|bias)", key):
            base = f"encoder.layers.{m[1]}.self_attn."
            fused = torch.cat([flat[f"{base}{p}_proj.{m[2]}"] for p in "qkv"], dim=0)
            out[f"{prefix}transformer.resblocks.{m[1]}.attn.in_proj_{m[2]}"] = fused
    return out


def _open_clip_layer_key(key: str) -> str:
    m = re.fullmatch(r"encoder\.layers\.(\d+)\.(.+)", key)
    if not m:
        raise LayoutError(f"Text-encoder parameter '{key}' has no place in the open_clip layout.")
    for new, old in _OPEN_CLIP_LAYER:
        if m[2].startswith(new):
            return f"transformer.resblocks.{m[1]}.{old}{m[2][len(new) :]}"
    raise LayoutError(f"Text-encoder parameter '{key}' has no place in the open_clip layout.")


def _text_layout(family: ModelFamily) -> list[tuple[str, TextEncoderKind]]:
    if family.is_sdxl and family is not ModelFamily.SDXL_REFINER:
        return [
            (SDXL_CLIP_L_PREFIX, TextEncoderKind.CLIP_L),
            (SDXL_CLIP_G_PREFIX, TextEncoderKind.OPEN_CLIP_G),
        ]
    if family is ModelFamily.SDXL_REFINER:
        return [(REFINER_CLIP_G_PREFIX, TextEncoderKind.OPEN_CLIP_G)]
    if family.is_sd2:
        return [(SD2_CLIP_PREFIX, TextEncoderKind.OPEN_CLIP_H)]
    return [(SD1_CLIP_PREFIX, TextEncoderKind.CLIP_L)]


def _check_text_encoder(model: Any, kind: TextEncoderKind) -> None:
    """Refuse encoders our loader would rebuild differently (it derives heads and activation)."""
    cfg = model.config
    heads = max(1, cfg.hidden_size // 64)
    act = "quick_gelu" if kind is TextEncoderKind.CLIP_L else "gelu"
    problems = []
    if cfg.num_attention_heads != heads:
        problems.append(
            f"num_attention_heads={cfg.num_attention_heads} (the loader uses hidden_size // 64 = {heads})"
        )
    if cfg.hidden_act != act:
        problems.append(f"hidden_act='{cfg.hidden_act}' ({kind.value} uses '{act}')")
    if kind is TextEncoderKind.OPEN_CLIP_G and not hasattr(model, "text_projection"):
        problems.append("no text_projection (use CLIPTextModelWithProjection)")
    if problems:
        raise LayoutError(
            f"The {kind.value} text encoder would not reload identically: {'; '.join(problems)}."
        )


def text_encoders_to_original(text_encoders: Sequence[Any], family: ModelFamily) -> dict[str, torch.Tensor]:
    """All text encoders of a family in the original layout; accepts models or TextEncoderBundles."""
    layout = _text_layout(family)
    models = [getattr(t, "model", t) for t in text_encoders]
    if len(models) != len(layout):
        raise LayoutError(f"{family.value} needs {len(layout)} text encoder(s), got {len(models)}.")
    out: dict[str, torch.Tensor] = {}
    for model, (prefix, kind) in zip(models, layout, strict=True):
        _check_text_encoder(model, kind)
        sd = model.state_dict()
        out.update(
            clip_l_to_original(sd, prefix)
            if kind is TextEncoderKind.CLIP_L
            else open_clip_to_original(sd, prefix)
        )
    return out


def original_state_dict(
    *,
    unet: Any,
    vae: Any,
    text_encoders: Sequence[Any],
    family: ModelFamily,
    dtype: torch.dtype | None = None,
) -> dict[str, torch.Tensor]:
    """The full single-file state dict of a model, detached, contiguous and optionally cast.

    Tensors are not copied when no cast or layout change is needed, so they may share memory
    with the modules (saving a multi-GB model then needs no second copy in RAM).
    """
    sd = unet_to_original(unet.state_dict(), unet.config)
    sd.update(vae_to_original(vae.state_dict(), vae.config))
    sd.update(text_encoders_to_original(text_encoders, family))
    return {k: _prepare(v, dtype) for k, v in sd.items()}


def _prepare(tensor: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    tensor = tensor.detach().to("cpu")
    if dtype is not None and tensor.is_floating_point():
        tensor = tensor.to(dtype)
    return tensor.contiguous()


def save_original_checkpoint(
    path: Path,
    *,
    unet: Any,
    vae: Any,
    text_encoders: Sequence[Any],
    family: ModelFamily,
    dtype: torch.dtype | None = None,
    format: str = "safetensors",
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write diffusers/transformers modules as one original-layout checkpoint file.

    `format` is "safetensors" (recommended) or "ckpt" (a torch pickle of {"state_dict": ...}, which
    our restricted unpickler reads). `text_encoders` are models or TextEncoderBundles in the
    family's order (SDXL: CLIP-L then OpenCLIP-G). Returns the path written.
    """
    path = Path(path)
    sd = original_state_dict(unet=unet, vae=vae, text_encoders=text_encoders, family=family, dtype=dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    if format == "safetensors":
        from safetensors.torch import save_file

        save_file(sd, str(path), metadata=dict(metadata or {}))
    elif format == "ckpt":
        torch.save({"state_dict": sd}, path)
    else:
        raise ValueError(f"Unknown checkpoint format '{format}'; use 'safetensors' or 'ckpt'.")
    return path


# ---- model yaml from diffusers configs -------------------------------------------------------


def _with_defaults(cls_name: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """A partial diffusers config completed with the class's own defaults (as the model would see it)."""
    import diffusers

    signature = inspect.signature(getattr(diffusers, cls_name).__init__)
    defaults = {
        n: p.default for n, p in signature.parameters.items() if p.default is not inspect.Parameter.empty
    }
    return {**defaults, **{k: v for k, v in config.items() if not k.startswith("_")}}


def _unet_params_from_diffusers(config: Mapping[str, Any]) -> dict[str, Any]:
    c = _with_defaults("UNet2DConditionModel", config)
    _require_plain_unet(c)
    blocks = list(c["block_out_channels"])
    base = blocks[0]
    heads = c["attention_head_dim"]
    params: dict[str, Any] = {
        "in_channels": c["in_channels"],
        "out_channels": c["out_channels"],
        "model_channels": base,
        "attention_resolutions": [
            2**i for i, t in enumerate(c["down_block_types"]) if t.startswith("CrossAttn")
        ],
        "num_res_blocks": c["layers_per_block"],
        "channel_mult": [b // base for b in blocks],
        "use_linear_in_transformer": bool(c["use_linear_projection"]),
        "transformer_depth": _plain(c["transformer_layers_per_block"]),
        "context_dim": c["cross_attention_dim"],
    }
    if isinstance(heads, int):
        params["num_heads"] = heads
    else:
        widths = {b // h for b, h in zip(blocks, heads, strict=True)}
        if len(widths) != 1:
            raise LayoutError(
                f"attention_head_dim {heads} gives different head widths per level; not expressible."
            )
        params["num_head_channels"] = widths.pop()
    if c.get("addition_embed_type") == "text_time":
        params.update(num_classes="sequential", adm_in_channels=c["projection_class_embeddings_input_dim"])
    return params


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


def _require_plain_unet(c: Mapping[str, Any]) -> None:
    expected = {
        "norm_num_groups": 32,
        "flip_sin_to_cos": True,
        "freq_shift": 0,
        "act_fn": "silu",
        "class_embed_type": None,
        "encoder_hid_dim": None,
        "resnet_time_scale_shift": "default",
        "mid_block_type": "UNetMidBlock2DCrossAttn",
        "conv_in_kernel": 3,
        "conv_out_kernel": 3,
    }
    bad = {k: c.get(k) for k, v in expected.items() if k in c and c.get(k) != v}
    if bad:
        raise LayoutError(f"UNet options with no original-layout equivalent: {bad}.")
    if c.get("addition_embed_type") not in (None, "text_time"):
        raise LayoutError(
            f"addition_embed_type '{c['addition_embed_type']}' has no original-layout equivalent."
        )


def _vae_params_from_diffusers(config: Mapping[str, Any]) -> dict[str, Any]:
    c = _with_defaults("AutoencoderKL", config)
    if c.get("norm_num_groups", 32) != 32:
        raise LayoutError("The original VAE layout uses 32 norm groups.")
    blocks = list(c["block_out_channels"])
    return {
        "ch": blocks[0],
        "ch_mult": [b // blocks[0] for b in blocks],
        "num_res_blocks": c["layers_per_block"],
        "z_channels": c["latent_channels"],
        "in_channels": c["in_channels"],
        "out_ch": c["out_channels"],
    }


def original_config_from_diffusers(
    unet_config: Mapping[str, Any],
    vae_config: Mapping[str, Any],
    family: ModelFamily,
    *,
    scale_factor: float,
    parameterization: str = "eps",
    linear_start: float = 0.00085,
    linear_end: float = 0.012,
    configs_dir: Path | None = None,
) -> dict[str, Any]:
    """The LDM/SGM yaml (as a dict) describing these modules, starting from the family's shipped yaml."""
    data = read_yaml(Path(configs_dir or DEFAULT_CONFIGS_DIR) / CONFIG_FILES[family])
    params = data["model"]["params"]
    unet_key = "network_config" if "network_config" in params else "unet_config"
    unet = {
        k: v for k, v in params[unet_key]["params"].items() if k not in ("num_heads", "num_head_channels")
    }
    unet.update(_unet_params_from_diffusers(unet_config))
    params[unet_key]["params"] = unet
    first = params["first_stage_config"]["params"]
    first["ddconfig"].update(_vae_params_from_diffusers(vae_config))
    first["embed_dim"] = first["ddconfig"]["z_channels"]
    params["scale_factor"] = float(scale_factor)
    _set_schedule(params, parameterization, linear_start, linear_end)
    _set_size_embed(params, unet_config.get("addition_time_embed_dim"))  # None: keep the template's
    return data


def _set_schedule(params: dict[str, Any], parameterization: str, start: float, end: float) -> None:
    if parameterization not in ("eps", "v"):
        raise ValueError(f"parameterization must be 'eps' or 'v', not '{parameterization}'.")
    denoiser = params.get("denoiser_config")
    if denoiser is None:
        params.update(linear_start=start, linear_end=end)
        params.pop("parameterization", None)
        if parameterization == "v":
            params["parameterization"] = "v"
        return
    dparams = denoiser["params"]
    scaling = "VScaling" if parameterization == "v" else "EpsScaling"
    dparams["scaling_config"] = {"target": f"sgm.modules.diffusionmodules.denoiser_scaling.{scaling}"}
    dparams["discretization_config"].setdefault("params", {}).update(linear_start=start, linear_end=end)


def _set_size_embed(params: dict[str, Any], width: int | None) -> None:
    emb_models = ((params.get("conditioner_config") or {}).get("params") or {}).get("emb_models") or []
    for emb in emb_models:
        if width and str(emb.get("target", "")).endswith("ConcatTimestepEmbedderND"):
            emb.setdefault("params", {})["outdim"] = int(width)


def write_original_config(path: Path, config: Mapping[str, Any]) -> Path:
    """Write a model yaml (e.g. the sidecar `<checkpoint>.yaml`)."""
    path = Path(path)
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False), encoding="utf-8")
    return path
