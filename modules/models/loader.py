"""Build a `LoadedModel` (diffusers UNet + VAE, transformers CLIP) from a checkpoint, fully offline.

Weights are renamed with diffusers' own original→diffusers converters; configs come from the model
yaml (shipped or sidecar) for the UNet and VAE and from weight shapes for the text encoders. Modules
are created on the meta device and the checkpoint tensors are assigned into them, so no time is spent
on random initialisation and no second copy of the weights is made when the dtype already matches.
Every mismatch between weights and config is reported with the missing/unexpected keys.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from modules.models import detection
from modules.models.configs import (
    CONFIG_FILES,
    DEFAULT_CONFIGS_DIR,
    ModelConfig,
    find_config,
    load_model_config,
    sidecar_config,
    unet_diffusers_config,
    vae_diffusers_config,
)
from modules.models.safe_unpickle import UnsafeCheckpointError
from modules.models.sd_model import LoadedModel, ModelFamily, TextEncoderBundle, TextEncoderKind
from modules.models.state_dict import (
    CheckpointLoadError,
    is_diffusers_folder,
    read_safetensors_metadata,
    read_state_dict,
)

# What a caller catches to keep the current model when a new one fails to load.
CHECKPOINT_ERRORS = (CheckpointLoadError, UnsafeCheckpointError)

CLIP_L_PAD_ID = 49407
OPEN_CLIP_PAD_ID = 0
_TEXT_SPECS: Mapping[ModelFamily, tuple[tuple[str, TextEncoderKind], ...]] = {
    ModelFamily.SD1: (("cond_stage_model.transformer.", TextEncoderKind.CLIP_L),),
    ModelFamily.SD2: (("cond_stage_model.model.", TextEncoderKind.OPEN_CLIP_H),),
    ModelFamily.SDXL: (
        ("conditioner.embedders.0.transformer.", TextEncoderKind.CLIP_L),
        ("conditioner.embedders.1.model.", TextEncoderKind.OPEN_CLIP_G),
    ),
    ModelFamily.SDXL_REFINER: (("conditioner.embedders.0.model.", TextEncoderKind.OPEN_CLIP_G),),
}


def _text_spec(family: ModelFamily) -> tuple[tuple[str, TextEncoderKind], ...]:
    base = {
        ModelFamily.SD1_INPAINT: ModelFamily.SD1,
        ModelFamily.SD2_V: ModelFamily.SD2,
        ModelFamily.SD2_INPAINT: ModelFamily.SD2,
        ModelFamily.SDXL_INPAINT: ModelFamily.SDXL,
    }
    return _TEXT_SPECS[base.get(family, family)]


def load_checkpoint(
    path: Path,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    configs_dir: Path | None = None,
    title: str = "",
    is_demo: bool = False,
    vae_dtype: torch.dtype | None = None,
) -> LoadedModel:
    """Load a single-file checkpoint or a diffusers folder into a LoadedModel on `device`.

    `vae_dtype` (default: `dtype`) lets --no-half-vae keep the VAE in fp32.
    """
    path = Path(path)
    placement = _Placement(torch.device(device), dtype, vae_dtype or dtype)
    if is_diffusers_folder(path):
        model = _load_diffusers_folder(path, placement)
    else:
        model = _load_single_file(path, placement, Path(configs_dir or DEFAULT_CONFIGS_DIR))
    model.title = title or path.name
    model.is_demo = is_demo
    return model


@dataclass(frozen=True)
class _Placement:
    """Where and in which dtype the components are built."""

    device: torch.device
    dtype: torch.dtype
    vae_dtype: torch.dtype


def _load_single_file(path: Path, placement: _Placement, configs_dir: Path) -> LoadedModel:
    state_dict = read_state_dict(path)
    family = detection.detect_family(state_dict)
    marker = detection.prediction_type_from_markers(state_dict, read_safetensors_metadata(path))
    has_sidecar = sidecar_config(path) is not None
    if family is ModelFamily.SD2 and marker == "v_prediction" and not has_sidecar:
        family = ModelFamily.SD2_V
    config_path = find_config(path, family, configs_dir)
    cfg = load_model_config(config_path)
    if has_sidecar and family is ModelFamily.SD2 and cfg.parameterization == "v":
        family = ModelFamily.SD2_V
    unet = build_unet(state_dict, cfg, family, placement.device, placement.dtype)
    prediction, source = _prediction_type(cfg, has_sidecar, marker, family, unet)
    if family is ModelFamily.SD2 and prediction == "v_prediction":
        family = ModelFamily.SD2_V
        config_path = config_path if has_sidecar else find_config(path, family, configs_dir)
        _upcast_attention(unet)
    vae = build_vae(state_dict, cfg, placement.device, placement.vae_dtype)
    encoders = build_text_encoders(state_dict, family, placement.device, placement.dtype)
    return LoadedModel(
        family=family,
        unet=unet,
        vae=vae,
        text_encoders=encoders,
        prediction_type=prediction,
        alphas_cumprod=alphas_cumprod(cfg.linear_start, cfg.linear_end, cfg.timesteps),
        vae_scaling_factor=cfg.scale_factor,
        source_path=path,
        config_path=config_path,
        extra={"prediction_type_source": source},
    )


def _prediction_type(
    cfg: ModelConfig, has_sidecar: bool, marker: str | None, family: ModelFamily, unet: Any
) -> tuple[str, str]:
    """(prediction type, where it came from): sidecar yaml > file markers > SD2 test forward > config."""
    if has_sidecar:
        return cfg.prediction_type, "sidecar yaml"
    if marker is not None:
        return marker, "checkpoint marker"
    if family is ModelFamily.SD2:
        is_v = detection.looks_like_v_prediction(unet)
        return ("v_prediction" if is_v else "epsilon"), "test forward at t=999"
    return cfg.prediction_type, "shipped config"


def _upcast_attention(unet: Any) -> None:
    """SD2-768-v overflows fp16 in attention; its config gets upcast_attention, as diffusers' SD2-v does.
    Needed here when the v decision came after the UNet was built (the test forward)."""
    from diffusers.models.attention_processor import Attention

    for module in unet.modules():
        if isinstance(module, Attention):
            module.upcast_attention = True
    unet.register_to_config(upcast_attention=True)


def alphas_cumprod(linear_start: float, linear_end: float, timesteps: int) -> torch.Tensor:
    """LDM's "scaled linear" schedule: betas evenly spaced in sqrt space, then squared."""
    betas = torch.linspace(linear_start**0.5, linear_end**0.5, timesteps, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0).to(torch.float32)


def _take(state_dict: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Remove and return the tensors under a prefix, so each is referenced only once while building."""
    return {k: state_dict.pop(k) for k in [k for k in state_dict if k.startswith(prefix)]}


def build_unet(
    state_dict: dict[str, torch.Tensor],
    cfg: ModelConfig,
    family: ModelFamily,
    device: torch.device,
    dtype: torch.dtype,
) -> Any:
    """UNet2DConditionModel from original `model.diffusion_model.*` weights (taken out of `state_dict`)."""
    from diffusers import UNet2DConditionModel
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    config = unet_diffusers_config(cfg, family)
    found = detection.unet_in_channels(state_dict)
    if found != config["in_channels"]:
        raise CheckpointLoadError(
            f"The UNet weights take {found} input channels but config '{cfg.path}' says "
            f"{config['in_channels']}; "
            "the .yaml does not belong to this checkpoint."
        )
    weights = convert_ldm_unet_checkpoint(_take(state_dict, detection.UNET_PREFIX), config)
    return _assemble(lambda: UNet2DConditionModel(**config), weights, "UNet", cfg.path, device, dtype)


def build_vae(
    state_dict: dict[str, torch.Tensor], cfg: ModelConfig, device: torch.device, dtype: torch.dtype
) -> Any:
    """AutoencoderKL from original `first_stage_model.*` weights (taken out of `state_dict`)."""
    vae_weights = _take(state_dict, "first_stage_model.")
    if not vae_weights:
        raise CheckpointLoadError(
            "The checkpoint has no VAE weights (first_stage_model.*); it cannot decode images."
        )
    return vae_from_original(vae_weights, vae_diffusers_config(cfg), device, dtype, str(cfg.path))


def vae_from_original(
    weights: Mapping[str, torch.Tensor],
    config: Mapping[str, Any],
    device: torch.device,
    dtype: torch.dtype,
    source: str,
) -> Any:
    from diffusers import AutoencoderKL
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    converted = convert_ldm_vae_checkpoint(weights, dict(config))
    return _assemble(lambda: AutoencoderKL(**config), converted, "VAE", source, device, dtype)


def _assemble(
    factory: Callable[[], torch.nn.Module],
    weights: dict[str, torch.Tensor],
    what: str,
    source: Any,
    device: torch.device,
    dtype: torch.dtype,
) -> Any:
    """Create a module on the meta device and assign the weights (consumed) into it, checking keys/shapes."""
    with torch.device("meta"):
        module = factory()
    expected = set(module.state_dict().keys())
    _check_keys(expected, set(weights), what, source)
    cast = {k: _cast(weights.pop(k), device, dtype) for k in list(weights)}
    try:
        module.load_state_dict(cast, strict=True, assign=True)
    except RuntimeError as err:
        raise CheckpointLoadError(
            f"The {what} weights do not fit the config '{source}': {_first_lines(str(err))}"
        ) from err
    _materialise_buffers(module, what)
    return module.to(device).eval().requires_grad_(False)


def _cast(tensor: torch.Tensor, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Cast/move one tensor into memory of its own.

    safetensors hands out zero-copy views into the memory-mapped file. Keeping them would tie the
    model to the file (a re-download that truncates it crashes the process with SIGBUS; Windows
    cannot replace a mapped file) and leave weights at unaligned offsets, where CPU kernels round
    differently from a freshly built model. One tensor is copied at a time and its source dropped.
    """
    target = dtype if tensor.is_floating_point() else tensor.dtype
    out = tensor.to(device=device, dtype=target)
    if out.data_ptr() == tensor.data_ptr():
        out = out.clone()
    return out


def _check_keys(expected: set[str], found: set[str], what: str, source: Any) -> None:
    missing, unexpected = sorted(expected - found), sorted(found - expected)
    if not missing and not unexpected:
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:5])})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:5])})")
    raise CheckpointLoadError(
        f"The {what} weights do not match the architecture from '{source}': {'; '.join(parts)}. "
        "A wrong sidecar .yaml, or a file of another architecture, causes this."
    )


def _first_lines(text: str, n: int = 6) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines[:n]) + (" ..." if len(lines) > n else "")


def _materialise_buffers(module: torch.nn.Module, what: str) -> None:
    """Non-persistent buffers are not in checkpoints; the only one our modules have is CLIP's position_ids."""
    for name, buf in list(module.named_buffers()):
        if not buf.is_meta:
            continue
        if not name.endswith("position_ids"):
            raise CheckpointLoadError(f"The {what} has an uninitialised buffer '{name}' (a loader bug).")
        owner = module.get_submodule(name.rsplit(".", 1)[0]) if "." in name else module
        fresh = torch.arange(buf.shape[-1]).expand(buf.shape).contiguous()
        owner.register_buffer(name.rsplit(".", 1)[-1], fresh, persistent=False)


def build_text_encoders(
    state_dict: dict[str, torch.Tensor],
    family: ModelFamily,
    device: torch.device,
    dtype: torch.dtype,
) -> list[TextEncoderBundle]:
    """The family's text encoders, sized from their weights (taken out of `state_dict`)."""
    from modules.text.clip_tokenizer import load_clip_tokenizer

    tokenizer = load_clip_tokenizer()
    bundles = []
    for prefix, kind in _text_spec(family):
        weights = _text_weights_hf(state_dict, prefix, kind)
        bundle = text_encoder_bundle(weights, kind, tokenizer, device, dtype, source=prefix)
        bundle.penultimate_default = family is not ModelFamily.SD1 and family is not ModelFamily.SD1_INPAINT
        bundles.append(bundle)
    return bundles


def _text_weights_hf(
    state_dict: dict[str, torch.Tensor], prefix: str, kind: TextEncoderKind
) -> dict[str, Any]:
    """Original-layout text weights → transformers names (with the `text_model.` level)."""
    from diffusers.loaders.single_file_utils import convert_ldm_clip_checkpoint, convert_open_clip_checkpoint

    if kind is TextEncoderKind.CLIP_L:
        converted = convert_ldm_clip_checkpoint(_take(state_dict, prefix), remove_prefix=prefix)
        return {k: v for k, v in converted.items() if not k.endswith("position_ids")}
    sub = {k[len(prefix) :]: v for k, v in _take(state_dict, prefix).items()}
    if "token_embedding.weight" not in sub:
        raise CheckpointLoadError(f"The checkpoint has no text-encoder token embedding under '{prefix}'.")
    # An empty prefix keeps diffusers from skipping SD2's last layer (its hard-coded ignore list
    # names full keys); we keep every layer and let clip skip pick the penultimate one.
    width = int(sub["token_embedding.weight"].shape[1])
    stub = _ConfigStub(hidden_size=width)
    return convert_open_clip_checkpoint(stub, sub, prefix="")


class _ConfigStub:
    """convert_open_clip_checkpoint only reads `model.config.hidden_size` to split fused q/k/v."""

    def __init__(self, hidden_size: int) -> None:
        self.config = type("Cfg", (), {"hidden_size": hidden_size})()


def clip_config_from_weights(weights: Mapping[str, torch.Tensor], kind: TextEncoderKind) -> Any:
    """CLIPTextConfig from shapes: width (token embedding), layers (highest index), heads = width/64."""
    from transformers import CLIPTextConfig

    try:
        vocab, width = weights["text_model.embeddings.token_embedding.weight"].shape
        positions = weights["text_model.embeddings.position_embedding.weight"].shape[0]
        layers = 1 + max(int(k.split(".")[3]) for k in weights if k.startswith("text_model.encoder.layers."))
        intermediate = weights["text_model.encoder.layers.0.mlp.fc1.weight"].shape[0]
    except (KeyError, ValueError) as err:
        raise CheckpointLoadError(
            f"The {kind.value} text encoder weights are incomplete (missing {err})."
        ) from err
    projection = weights.get("text_projection.weight")
    return CLIPTextConfig(
        vocab_size=int(vocab),
        hidden_size=int(width),
        intermediate_size=int(intermediate),
        num_hidden_layers=layers,
        num_attention_heads=text_encoder_heads(int(width)),
        max_position_embeddings=int(positions),
        projection_dim=int(projection.shape[0]) if projection is not None else int(width),
        hidden_act="quick_gelu" if kind is TextEncoderKind.CLIP_L else "gelu",
        layer_norm_eps=1e-5,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=CLIP_L_PAD_ID if kind is TextEncoderKind.CLIP_L else OPEN_CLIP_PAD_ID,
    )


def text_encoder_heads(width: int) -> int:
    """Heads cannot be read from weights; every released CLIP uses 64-wide heads (tiny ones: at least 1)."""
    return max(1, width // 64)


def text_encoder_bundle(
    weights: Mapping[str, torch.Tensor],
    kind: TextEncoderKind,
    tokenizer: Any,
    device: torch.device,
    dtype: torch.dtype,
    source: str,
) -> TextEncoderBundle:
    """A TextEncoderBundle from transformers-named weights (with the `text_model.` level)."""
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    config = clip_config_from_weights(weights, kind)
    if kind is TextEncoderKind.OPEN_CLIP_G:
        model = _assemble(
            lambda: CLIPTextModelWithProjection(config), weights, kind.value, source, device, dtype
        )
    else:
        flat = {k.removeprefix("text_model."): v for k, v in weights.items() if k != "text_projection.weight"}
        model = _assemble(lambda: CLIPTextModel(config), flat, kind.value, source, device, dtype)
    return TextEncoderBundle(
        kind=kind,
        tokenizer=tokenizer,
        model=model,
        pad_token_id=CLIP_L_PAD_ID if kind is TextEncoderKind.CLIP_L else OPEN_CLIP_PAD_ID,
        penultimate_default=kind is not TextEncoderKind.CLIP_L,
    )


def _load_diffusers_folder(folder: Path, placement: _Placement) -> LoadedModel:
    """A local diffusers pipeline folder, loaded with from_pretrained(local_files_only=True)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    index = _read_json(folder / "model_index.json")
    unet = _from_pretrained(UNet2DConditionModel, folder / "unet", placement.dtype)
    vae = _from_pretrained(AutoencoderKL, folder / "vae", placement.vae_dtype)
    encoders = _folder_text_encoders(folder, index, placement.dtype)
    family = _folder_family(unet.config, encoders)
    scheduler = (
        _read_json(folder / "scheduler" / "scheduler_config.json") if (folder / "scheduler").is_dir() else {}
    )
    prediction = str(scheduler.get("prediction_type", "epsilon"))
    if family is ModelFamily.SD2 and prediction == "v_prediction":
        family = ModelFamily.SD2_V
    device = placement.device
    return LoadedModel(
        family=family,
        unet=unet.to(device).eval().requires_grad_(False),
        vae=vae.to(device).eval().requires_grad_(False),
        text_encoders=[_move_bundle(b, device) for b in encoders],
        prediction_type=prediction,
        alphas_cumprod=_folder_alphas(scheduler),
        vae_scaling_factor=float(vae.config.scaling_factor),
        source_path=folder,
        config_path=None,
        extra={"prediction_type_source": "scheduler_config.json"},
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CheckpointLoadError(f"'{path}' could not be read as JSON: {err}") from err


def _from_pretrained(cls: Any, folder: Path, dtype: torch.dtype) -> Any:
    if not folder.is_dir():
        raise CheckpointLoadError(f"The diffusers folder lacks '{folder.name}/' ({folder}).")
    try:
        return cls.from_pretrained(str(folder), local_files_only=True, torch_dtype=dtype)
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        raise CheckpointLoadError(f"'{folder}' could not be loaded: {_first_lines(str(err))}") from err


def _folder_text_encoders(
    folder: Path, index: Mapping[str, Any], dtype: torch.dtype
) -> list[TextEncoderBundle]:
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    from modules.text.clip_tokenizer import load_clip_tokenizer

    tokenizer = load_clip_tokenizer()
    bundles = []
    for name, cls in (("text_encoder", CLIPTextModel), ("text_encoder_2", CLIPTextModelWithProjection)):
        entry = index.get(name)
        if not entry or entry[0] is None:
            continue
        model = _from_pretrained(cls, folder / name, dtype)
        kind = _folder_kind(name, model.config)
        pad = CLIP_L_PAD_ID if kind is TextEncoderKind.CLIP_L else OPEN_CLIP_PAD_ID
        bundles.append(TextEncoderBundle(kind, tokenizer, model.eval().requires_grad_(False), pad))
    has_g = any(b.kind is TextEncoderKind.OPEN_CLIP_G for b in bundles)
    for bundle in bundles:
        bundle.penultimate_default = has_g or _is_full_open_clip_h(bundle)
    return bundles


def _folder_kind(name: str, config: Any) -> TextEncoderKind:
    if name == "text_encoder_2":
        return TextEncoderKind.OPEN_CLIP_G
    return TextEncoderKind.CLIP_L if config.hidden_act == "quick_gelu" else TextEncoderKind.OPEN_CLIP_H


def _is_full_open_clip_h(bundle: TextEncoderBundle) -> bool:
    """diffusers' SD2 folders drop OpenCLIP-H's last layer (23 of 24 kept), so their final layer
    already is the penultimate one; our own saved folders keep all layers."""
    return bundle.kind is TextEncoderKind.OPEN_CLIP_H and bundle.model.config.num_hidden_layers != 23


def _folder_family(unet_config: Any, encoders: list[TextEncoderBundle]) -> ModelFamily:
    kinds = [b.kind for b in encoders]
    inpaint = unet_config.in_channels == 9
    if kinds == [TextEncoderKind.CLIP_L, TextEncoderKind.OPEN_CLIP_G]:
        return ModelFamily.SDXL_INPAINT if inpaint else ModelFamily.SDXL
    if kinds == [TextEncoderKind.OPEN_CLIP_G]:
        return ModelFamily.SDXL_REFINER
    if kinds == [TextEncoderKind.OPEN_CLIP_H]:
        return ModelFamily.SD2_INPAINT if inpaint else ModelFamily.SD2
    if kinds == [TextEncoderKind.CLIP_L]:
        return ModelFamily.SD1_INPAINT if inpaint else ModelFamily.SD1
    raise CheckpointLoadError(f"Unsupported combination of text encoders in the diffusers folder: {kinds}.")


def _folder_alphas(scheduler: Mapping[str, Any]) -> torch.Tensor:
    start = float(scheduler.get("beta_start", 0.00085))
    end = float(scheduler.get("beta_end", 0.012))
    steps = int(scheduler.get("num_train_timesteps", 1000))
    if scheduler.get("beta_schedule", "scaled_linear") == "linear":
        betas = torch.linspace(start, end, steps, dtype=torch.float64)
        return torch.cumprod(1.0 - betas, dim=0).to(torch.float32)
    return alphas_cumprod(start, end, steps)


def _move_bundle(bundle: TextEncoderBundle, device: torch.device) -> TextEncoderBundle:
    bundle.model = bundle.model.to(device)
    return bundle


def replace_vae(model: LoadedModel, vae: Mapping[str, torch.Tensor] | Path | str) -> Any:
    """Swap the model's VAE for weights from a file or state dict; returns the new VAE.

    Accepts original-layout VAE files (`encoder.down.N...`, with or without `first_stage_model.`)
    and diffusers-layout ones (`encoder.down_blocks.N...`). The architecture must match the current
    VAE's; training leftovers (`loss.*`, `model_ema.*`) are ignored.
    """
    from diffusers import AutoencoderKL

    source = str(vae) if isinstance(vae, (str, Path)) else "the given state dict"
    weights = read_state_dict(Path(vae)) if isinstance(vae, (str, Path)) else dict(vae)
    weights = {
        k.removeprefix("first_stage_model."): v
        for k, v in weights.items()
        if not k.startswith(("loss.", "model_ema."))
    }
    param = next(model.vae.parameters())
    config = dict(model.vae.config)
    if any(k.startswith(("encoder.down_blocks.", "decoder.up_blocks.")) for k in weights):
        allowed = {k: v for k, v in config.items() if not k.startswith("_")}
        new = _assemble(
            lambda: AutoencoderKL.from_config(allowed), weights, "VAE", source, param.device, param.dtype
        )
    else:
        new = vae_from_original(weights, config, param.device, param.dtype, source)
    model.vae = new
    model.extra["vae_source"] = source
    return new


def standard_config_path(family: ModelFamily, configs_dir: Path | None = None) -> Path:
    """The shipped yaml for a family (what find_config returns when there is no sidecar)."""
    return Path(configs_dir or DEFAULT_CONFIGS_DIR) / CONFIG_FILES[family]
