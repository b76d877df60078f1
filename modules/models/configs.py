"""Model configs: which yaml applies to a checkpoint, what it says, and the diffusers configs it implies.

The yaml files are in the original LDM (SD1/SD2) or SGM (SDXL) format so that users can drop the
same `.yaml` beside a checkpoint that A1111 accepts. We read only what building the UNet and VAE
needs plus the noise schedule; text-encoder sizes come from the weights, never from the yaml.

diffusers' `create_unet_diffusers_config_from_ldm` decides "SDXL" from the context width (2048 or
1280) and infers an image size by inspecting the checkpoint, so it cannot describe small models;
the conversion of these params to diffusers configs is ours (and checked against diffusers' for the
standard configs in the tests).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modules.models.sd_model import ModelFamily
from modules.models.state_dict import CheckpointLoadError

DEFAULT_CONFIGS_DIR = Path(__file__).resolve().parents[2] / "configs"

CONFIG_FILES: Mapping[ModelFamily, str] = {
    ModelFamily.SD1: "v1-inference.yaml",
    ModelFamily.SD1_INPAINT: "v1-inpainting-inference.yaml",
    ModelFamily.SD2: "v2-inference.yaml",
    ModelFamily.SD2_V: "v2-inference-v.yaml",
    ModelFamily.SD2_INPAINT: "v2-inpainting-inference.yaml",
    ModelFamily.SDXL: "sd_xl_base.yaml",
    ModelFamily.SDXL_REFINER: "sd_xl_refiner.yaml",
    ModelFamily.SDXL_INPAINT: "sd_xl_inpaint.yaml",
}

# Native resolution per family, only used as diffusers' `sample_size` default.
_NATIVE_SIZE = {
    ModelFamily.SD2_V: 768,
    ModelFamily.SDXL: 1024,
    ModelFamily.SDXL_REFINER: 1024,
    ModelFamily.SDXL_INPAINT: 1024,
}
SDXL_SIZE_EMBED_DIM = 256


class ConfigError(CheckpointLoadError):
    """A model yaml is missing, unreadable or lacks a field the builder needs."""


@dataclass(frozen=True)
class UNetParams:
    """The UNet fields of an LDM/SGM `unet_config` / `network_config`."""

    in_channels: int
    out_channels: int
    model_channels: int
    channel_mult: tuple[int, ...]
    num_res_blocks: int
    attention_resolutions: tuple[int, ...]
    num_heads: int
    num_head_channels: int
    context_dim: int | None
    transformer_depth: tuple[int, ...]  # one per level
    use_linear_in_transformer: bool
    adm_in_channels: int | None


@dataclass(frozen=True)
class VAEParams:
    """The `first_stage_config` fields (ddconfig + embed_dim)."""

    ch: int
    ch_mult: tuple[int, ...]
    num_res_blocks: int
    z_channels: int
    embed_dim: int
    in_channels: int
    out_ch: int


@dataclass(frozen=True)
class ModelConfig:
    """What a model yaml says that building and sampling need."""

    path: Path
    unet: UNetParams
    vae: VAEParams
    scale_factor: float
    linear_start: float
    linear_end: float
    timesteps: int
    parameterization: str  # "eps" or "v"
    size_embed_dim: int = SDXL_SIZE_EMBED_DIM

    @property
    def prediction_type(self) -> str:
        return "v_prediction" if self.parameterization == "v" else "epsilon"


def sidecar_config(checkpoint_path: Path) -> Path | None:
    """A same-named .yaml beside the checkpoint (A1111's per-model override), if there is one."""
    path = Path(checkpoint_path)
    for candidate in (path.with_suffix(".yaml"), path.with_suffix(".yml")):
        if candidate.is_file() and candidate != path:
            return candidate
    return None


def find_config(checkpoint_path: Path, family: ModelFamily, configs_dir: Path | None = None) -> Path:
    """The yaml for a checkpoint: its sidecar if present, else the shipped config for the family."""
    sidecar = sidecar_config(checkpoint_path)
    if sidecar is not None:
        return sidecar
    shipped = Path(configs_dir or DEFAULT_CONFIGS_DIR) / CONFIG_FILES[family]
    if not shipped.is_file():
        raise ConfigError(
            f"The shipped config '{shipped}' for {family.value} models is missing; reinstall the app."
        )
    return shipped


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"Config '{path}' could not be read: {err}") from err
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        raise ConfigError(f"Config '{path}' has no top-level 'model:' section; is it an LDM/SGM model yaml?")
    return data


def load_model_config(path: Path) -> ModelConfig:
    """Parse an LDM or SGM model yaml into a ModelConfig; missing fields are named in the error."""
    data = read_yaml(path)
    params = _section(data, path, "model", "params")
    unet_section = params.get("unet_config") or params.get("network_config")
    if not isinstance(unet_section, dict):
        raise ConfigError(
            f"Config '{path}' has neither model.params.unet_config nor model.params.network_config."
        )
    parameterization, start, end, steps = _schedule(params)
    return ModelConfig(
        path=Path(path),
        unet=_unet_params(_section(unet_section, path, "params"), path),
        vae=_vae_params(_section(params, path, "first_stage_config", "params"), path),
        scale_factor=float(params.get("scale_factor", 0.18215)),
        linear_start=start,
        linear_end=end,
        timesteps=steps,
        parameterization=parameterization,
        size_embed_dim=_size_embed_dim(params),
    )


def _section(data: Mapping[str, Any], path: Path, *keys: str) -> dict[str, Any]:
    node: Any = data
    for i, key in enumerate(keys):
        if not isinstance(node, Mapping) or not isinstance(node.get(key), Mapping):
            raise ConfigError(f"Config '{path}' lacks the section {'.'.join(keys[: i + 1])}.")
        node = node[key]
    return dict(node)


def _need(params: Mapping[str, Any], key: str, path: Path, where: str) -> Any:
    if key not in params or params[key] is None:
        raise ConfigError(f"Config '{path}' lacks {where}.{key}.")
    return params[key]


def _unet_params(p: Mapping[str, Any], path: Path) -> UNetParams:
    where = "unet params"
    mult = tuple(int(m) for m in _need(p, "channel_mult", path, where))
    depth = p.get("transformer_depth", 1)
    depths = tuple(int(d) for d in depth) if isinstance(depth, (list, tuple)) else (int(depth),) * len(mult)
    middle = p.get("transformer_depth_middle")
    if middle is not None and int(middle) != depths[-1]:
        raise ConfigError(
            f"Config '{path}': transformer_depth_middle != the last transformer_depth is not supported."
        )
    ctx = p.get("context_dim")
    res_blocks = _need(p, "num_res_blocks", path, where)
    if not isinstance(res_blocks, int):
        raise ConfigError(f"Config '{path}': num_res_blocks must be one integer for every level.")
    return UNetParams(
        in_channels=int(_need(p, "in_channels", path, where)),
        out_channels=int(_need(p, "out_channels", path, where)),
        model_channels=int(_need(p, "model_channels", path, where)),
        channel_mult=mult,
        num_res_blocks=res_blocks,
        attention_resolutions=tuple(int(r) for r in _need(p, "attention_resolutions", path, where)),
        num_heads=int(p.get("num_heads", -1)),
        num_head_channels=int(p.get("num_head_channels", -1)),
        context_dim=None if ctx is None else int(ctx[0] if isinstance(ctx, (list, tuple)) else ctx),
        transformer_depth=depths,
        use_linear_in_transformer=bool(p.get("use_linear_in_transformer", False)),
        adm_in_channels=int(p["adm_in_channels"]) if p.get("num_classes") == "sequential" else None,
    )


def _vae_params(p: Mapping[str, Any], path: Path) -> VAEParams:
    dd = _section(p, path, "ddconfig")
    where = "first_stage_config.params.ddconfig"
    return VAEParams(
        ch=int(_need(dd, "ch", path, where)),
        ch_mult=tuple(int(m) for m in _need(dd, "ch_mult", path, where)),
        num_res_blocks=int(_need(dd, "num_res_blocks", path, where)),
        z_channels=int(_need(dd, "z_channels", path, where)),
        embed_dim=int(p.get("embed_dim", dd["z_channels"])),
        in_channels=int(dd.get("in_channels", 3)),
        out_ch=int(dd.get("out_ch", 3)),
    )


def _schedule(params: Mapping[str, Any]) -> tuple[str, float, float, int]:
    """(parameterization, linear_start, linear_end, timesteps) from LDM fields or SGM's denoiser_config."""
    denoiser = params.get("denoiser_config")
    if isinstance(denoiser, Mapping):
        dparams = denoiser.get("params") or {}
        scaling = str((dparams.get("scaling_config") or {}).get("target", ""))
        disc = (dparams.get("discretization_config") or {}).get("params") or {}
        return (
            "v" if scaling.endswith("VScaling") else "eps",
            float(disc.get("linear_start", 0.00085)),
            float(disc.get("linear_end", 0.012)),
            int(dparams.get("num_idx", 1000)),
        )
    return (
        "v" if str(params.get("parameterization", "eps")) == "v" else "eps",
        float(params.get("linear_start", 0.00085)),
        float(params.get("linear_end", 0.012)),
        int(params.get("timesteps", 1000)),
    )


def _size_embed_dim(params: Mapping[str, Any]) -> int:
    """Width of SDXL's size/crop/aesthetic embeddings, from the conditioner's ConcatTimestepEmbedderND."""
    emb_models = ((params.get("conditioner_config") or {}).get("params") or {}).get("emb_models") or []
    for emb in emb_models:
        if str(emb.get("target", "")).endswith("ConcatTimestepEmbedderND"):
            return int((emb.get("params") or {}).get("outdim", SDXL_SIZE_EMBED_DIM))
    return SDXL_SIZE_EMBED_DIM


def attention_heads(unet: UNetParams) -> int | list[int]:
    """Heads per level as diffusers wants them (its `attention_head_dim` historically means heads)."""
    if unet.num_head_channels == -1:
        return unet.num_heads
    return [unet.model_channels * m // unet.num_head_channels for m in unet.channel_mult]


def _level_has_attention(unet: UNetParams) -> list[bool]:
    return [2**i in unet.attention_resolutions for i in range(len(unet.channel_mult))]


def unet_diffusers_config(cfg: ModelConfig, family: ModelFamily) -> dict[str, Any]:
    """The UNet2DConditionModel config equivalent to the yaml's UNet."""
    u = cfg.unet
    attn = _level_has_attention(u)
    config: dict[str, Any] = {
        "sample_size": _NATIVE_SIZE.get(family, 512) // 2 ** (len(cfg.vae.ch_mult) - 1),
        "in_channels": u.in_channels,
        "out_channels": u.out_channels,
        "down_block_types": ["CrossAttnDownBlock2D" if a else "DownBlock2D" for a in attn],
        "up_block_types": ["CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attn)],
        "block_out_channels": [u.model_channels * m for m in u.channel_mult],
        "layers_per_block": u.num_res_blocks,
        "cross_attention_dim": u.context_dim,
        "attention_head_dim": attention_heads(u),
        "use_linear_projection": u.use_linear_in_transformer,
        "transformer_layers_per_block": _depths_for_diffusers(u),
        "upcast_attention": family is ModelFamily.SD2_V,
    }
    if u.adm_in_channels is not None:
        config.update(
            addition_embed_type="text_time",
            addition_time_embed_dim=cfg.size_embed_dim,
            projection_class_embeddings_input_dim=u.adm_in_channels,
        )
    return config


def _depths_for_diffusers(u: UNetParams) -> int | list[int]:
    depths = set(u.transformer_depth)
    return u.transformer_depth[0] if len(depths) == 1 else list(u.transformer_depth)


def vae_diffusers_config(cfg: ModelConfig) -> dict[str, Any]:
    """The AutoencoderKL config equivalent to the yaml's first stage."""
    v = cfg.vae
    if v.embed_dim != v.z_channels:
        raise ConfigError(
            f"Config '{cfg.path}': embed_dim {v.embed_dim} != z_channels {v.z_channels} is not supported."
        )
    n = len(v.ch_mult)
    return {
        "in_channels": v.in_channels,
        "out_channels": v.out_ch,
        "down_block_types": ["DownEncoderBlock2D"] * n,
        "up_block_types": ["UpDecoderBlock2D"] * n,
        "block_out_channels": [v.ch * m for m in v.ch_mult],
        "latent_channels": v.z_channels,
        "layers_per_block": v.num_res_blocks,
        "scaling_factor": cfg.scale_factor,
        "sample_size": 512,
    }
