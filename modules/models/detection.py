"""Which architecture a checkpoint is, decided from its keys and shapes.

Structure decides, not sizes: the text-encoder prefixes tell SD1 (CLIP-L under
`cond_stage_model.transformer`), SD2 (OpenCLIP under `cond_stage_model.model`), SDXL (CLIP-L and
OpenCLIP-G under `conditioner.embedders.0/1`) and the SDXL refiner (OpenCLIP-G alone as embedder 0)
apart, and the UNet's first convolution tells inpainting models (9 input channels) apart. That also
works for the tiny test models whose widths are nothing like the real ones. Only when a file has no
text encoder at all do we fall back on the cross-attention width (768/1024/2048/1280).

Epsilon vs v-prediction cannot be read from the architecture (SD2-768-v and SD2-512 have identical
shapes). The order of evidence is: a sidecar .yaml (`parameterization: "v"`, decided by the loader),
then explicit markers in the file (a `v_pred` key, safetensors `modelspec.prediction_type`), then for
SD2 only A1111's empirical test forward (`looks_like_v_prediction`), which needs trained weights.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import torch

from modules.models.sd_model import ModelFamily
from modules.models.state_dict import CheckpointLoadError

UNET_PREFIX = "model.diffusion_model."
UNET_IN_KEY = UNET_PREFIX + "input_blocks.0.0.weight"
LABEL_EMB_KEY = UNET_PREFIX + "label_emb.0.0.weight"
SD1_TEXT_PREFIX = "cond_stage_model.transformer."
SD2_TEXT_PREFIX = "cond_stage_model.model."
SDXL_CLIP_L_PREFIX = "conditioner.embedders.0.transformer."
SDXL_CLIP_G_PREFIX = "conditioner.embedders.1.model."
REFINER_CLIP_G_PREFIX = "conditioner.embedders.0.model."

_CONTEXT_FALLBACK = {768: "sd1", 1024: "sd2", 2048: "sdxl", 1280: "sdxl-refiner"}
_INPAINT = {
    ModelFamily.SD1: ModelFamily.SD1_INPAINT,
    ModelFamily.SD2: ModelFamily.SD2_INPAINT,
    ModelFamily.SDXL: ModelFamily.SDXL_INPAINT,
}


class UnknownModelError(CheckpointLoadError):
    """The state dict is not one of the supported Stable Diffusion families."""


def has_prefix(state_dict: Mapping[str, object], prefix: str) -> bool:
    return any(k.startswith(prefix) for k in state_dict)


def unet_in_channels(state_dict: Mapping[str, torch.Tensor]) -> int | None:
    weight = state_dict.get(UNET_IN_KEY)
    return None if weight is None else int(weight.shape[1])


def context_dim(state_dict: Mapping[str, torch.Tensor]) -> int | None:
    """Cross-attention width: the input width of any attn2.to_k in the UNet."""
    for key, value in state_dict.items():
        if key.startswith(UNET_PREFIX) and key.endswith("attn2.to_k.weight"):
            return int(value.shape[1])
    return None


def detect_family(state_dict: Mapping[str, torch.Tensor]) -> ModelFamily:
    """The architecture family of an original-layout state dict; raises UnknownModelError otherwise."""
    in_channels = unet_in_channels(state_dict)
    if in_channels is None:
        raise UnknownModelError(_describe_not_a_model(state_dict))
    base = _base_family(state_dict)
    if in_channels == 4:
        return base
    if in_channels == 9 and base in _INPAINT:
        return _INPAINT[base]
    raise UnknownModelError(
        f"The UNet takes {in_channels} input channels ({base.value} text encoder); supported are 4 (normal) "
        f"and 9 (inpainting{'' if base in _INPAINT else ', not for the SDXL refiner'}). "
        + _IN_CHANNEL_HINTS.get(in_channels, "")
        + "\n"
        + describe_state_dict(state_dict)
    )


_IN_CHANNEL_HINTS = {
    8: "8 channels is an instruct-pix2pix model, which is not supported yet.",
    5: "5 channels is the SD2 depth model, which is not supported yet.",
    7: "7 channels is the SD2 x4 upscaler, which is not supported yet.",
}


def _base_family(state_dict: Mapping[str, torch.Tensor]) -> ModelFamily:
    if has_prefix(state_dict, SDXL_CLIP_G_PREFIX) and has_prefix(state_dict, SDXL_CLIP_L_PREFIX):
        return ModelFamily.SDXL
    if has_prefix(state_dict, REFINER_CLIP_G_PREFIX):
        return ModelFamily.SDXL_REFINER
    if has_prefix(state_dict, SD2_TEXT_PREFIX):
        return ModelFamily.SD2
    if has_prefix(state_dict, SD1_TEXT_PREFIX):
        return ModelFamily.SD1
    return _family_from_context(state_dict)


def _family_from_context(state_dict: Mapping[str, torch.Tensor]) -> ModelFamily:
    """No text encoder in the file: fall back on the real models' cross-attention widths."""
    ctx = context_dim(state_dict)
    name = _CONTEXT_FALLBACK.get(ctx or -1)
    has_label_emb = LABEL_EMB_KEY in state_dict
    if name is None or name.startswith("sdxl") != has_label_emb:
        raise UnknownModelError(
            "No known text encoder (cond_stage_model.transformer / cond_stage_model.model / "
            "conditioner.embedders) and the cross-attention width does not identify the family.\n"
            + describe_state_dict(state_dict)
        )
    return ModelFamily(name)


def describe_state_dict(state_dict: Mapping[str, torch.Tensor]) -> str:
    """A short inventory for error messages: top-level prefixes, UNet input channels, context width."""
    prefixes = Counter(_prefix_of(k) for k in state_dict)
    listed = ", ".join(f"{p}* ({n})" for p, n in prefixes.most_common(8))
    return (
        f"Found {len(state_dict)} tensors: {listed}; UNet input channels: {unet_in_channels(state_dict)}; "
        f"cross-attention width: {context_dim(state_dict)}; label_emb: {LABEL_EMB_KEY in state_dict}."
    )


def _prefix_of(key: str) -> str:
    parts = key.split(".")
    depth = 3 if parts[0] in ("conditioner", "cond_stage_model") else 2
    return ".".join(parts[:depth]) + "."


def _describe_not_a_model(state_dict: Mapping[str, torch.Tensor]) -> str:
    keys = list(state_dict)
    guesses = [
        (lambda: any(k.startswith(("lora_unet_", "lora_te")) or ".lora_" in k for k in keys), "a LoRA"),
        (
            lambda: any(k.startswith(("encoder.down.", "decoder.up.", "encoder.down_blocks.")) for k in keys),
            "a VAE",
        ),
        (
            lambda: any(k.startswith("control_model.") or k.startswith("controlnet_") for k in keys),
            "a ControlNet",
        ),
        (lambda: "string_to_param" in keys or "emb_params" in keys or "clip_l" in keys, "an embedding"),
    ]
    kind = next((name for test, name in guesses if test()), None)
    hint = f" It looks like {kind}; put it in the matching models/ folder instead." if kind else ""
    return (
        f"This is not a Stable Diffusion checkpoint: it has no UNet weights ({UNET_IN_KEY}).{hint}\n"
        + describe_state_dict(state_dict)
    )


def prediction_type_from_markers(state_dict: Mapping[str, object], metadata: Mapping[str, str]) -> str | None:
    """'v_prediction' / 'epsilon' when the file says so explicitly, else None.

    Markers: a `v_pred` key (written by several SDXL v-pred trainers) and the ModelSpec
    `modelspec.prediction_type` metadata field.
    """
    if "v_pred" in state_dict:
        return "v_prediction"
    spec = metadata.get("modelspec.prediction_type", "").strip().lower()
    if spec in ("v", "v_prediction", "v-prediction"):
        return "v_prediction"
    if spec in ("epsilon", "eps"):
        return "epsilon"
    return None


@torch.no_grad()
def looks_like_v_prediction(unet: torch.nn.Module) -> bool:
    """A1111's SD2 test: at t=999 an epsilon model returns about its input, a v model does not.

    Feed a constant latent of 0.5 with an all-zero text context at timestep 999 and compare the
    output with the input: a mean of (out - in) below -1 means v-prediction. This is an empirical
    property of the trained SD2 weights, so it says nothing about random-weight test models (they
    carry a sidecar yaml instead). Costs one UNet call on an 8x8 latent.
    """
    param = next(unet.parameters())
    cfg = unet.config
    x = torch.full((1, cfg.in_channels, 8, 8), 0.5, device=param.device, dtype=param.dtype)
    context = torch.zeros((1, 77, cfg.cross_attention_dim), device=param.device, dtype=param.dtype)
    t = torch.tensor([999], device=param.device)
    out = unet(x, t, encoder_hidden_states=context).sample
    return float((out.float() - x[:, : out.shape[1]].float()).mean()) < -1.0
