"""Family detection from keys and shapes, prediction-type markers, and the SD2 v-prediction test."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from modules.models.detection import (
    UnknownModelError,
    detect_family,
    looks_like_v_prediction,
    prediction_type_from_markers,
)
from modules.models.original_layout import original_state_dict
from modules.models.sd_model import ModelFamily
from tests.fixtures.tiny_models import build_tiny_components

UNET_IN = "model.diffusion_model.input_blocks.0.0.weight"
ATTN2_K = "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"
LABEL_EMB = "model.diffusion_model.label_emb.0.0.weight"


@pytest.mark.parametrize(
    ("built", "expected"),
    [(f, f) for f in ModelFamily if f is not ModelFamily.SD2_V] + [(ModelFamily.SD2_V, ModelFamily.SD2)],
    ids=lambda f: f.value,
)
def test_every_family_is_detected_from_its_tiny_checkpoint(built: ModelFamily, expected: ModelFamily) -> None:
    """SD2-v has SD2's exact shapes; only the yaml, markers or the test forward tell them apart."""
    c = build_tiny_components(built)
    sd = original_state_dict(unet=c.unet, vae=c.vae, text_encoders=c.text_encoders, family=built)
    assert detect_family(sd) is expected


def _unet_only(in_ch: int = 4, context: int = 768, label_emb: bool = False) -> dict[str, torch.Tensor]:
    sd = {UNET_IN: torch.zeros(8, in_ch, 3, 3), ATTN2_K: torch.zeros(8, context)}
    if label_emb:
        sd[LABEL_EMB] = torch.zeros(8, 2816)
    return sd


@pytest.mark.parametrize(
    ("context", "label_emb", "expected"),
    [
        (768, False, ModelFamily.SD1),
        (1024, False, ModelFamily.SD2),
        (2048, True, ModelFamily.SDXL),
        (1280, True, ModelFamily.SDXL_REFINER),
    ],
)
def test_without_text_encoder_the_context_width_decides(
    context: int, label_emb: bool, expected: ModelFamily
) -> None:
    assert detect_family(_unet_only(context=context, label_emb=label_emb)) is expected


def test_unknown_layout_lists_what_was_found() -> None:
    with pytest.raises(UnknownModelError) as info:
        detect_family(_unet_only(context=2048, label_emb=False))
    message = str(info.value)
    assert "cross-attention width: 2048" in message
    assert "model.diffusion_model.* (2)" in message
    assert "label_emb: False" in message


@pytest.mark.parametrize(
    ("keys", "kind"),
    [
        (["lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight"], "a LoRA"),
        (["encoder.down.0.block.0.conv1.weight", "decoder.up.0.block.0.conv1.weight"], "a VAE"),
        (["control_model.input_blocks.0.0.weight"], "a ControlNet"),
        (["string_to_param"], "an embedding"),
    ],
)
def test_non_checkpoints_are_named(keys: list[str], kind: str) -> None:
    with pytest.raises(UnknownModelError, match=f"no UNet weights.*looks like {kind}"):
        detect_family({k: torch.zeros(1) for k in keys})


def test_unsupported_input_channels_are_explained() -> None:
    sd = _unet_only(in_ch=8)
    sd["cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"] = torch.zeros(2, 2)
    with pytest.raises(UnknownModelError, match="8 input channels.*instruct-pix2pix"):
        detect_family(sd)
    refiner = _unet_only(in_ch=9, context=1280, label_emb=True)
    refiner["conditioner.embedders.0.model.token_embedding.weight"] = torch.zeros(2, 2)
    with pytest.raises(UnknownModelError, match="not for the SDXL refiner"):
        detect_family(refiner)


@pytest.mark.parametrize(
    ("keys", "metadata", "expected"),
    [
        ({}, {}, None),
        ({"v_pred": torch.zeros(0)}, {}, "v_prediction"),
        ({}, {"modelspec.prediction_type": "v"}, "v_prediction"),
        ({}, {"modelspec.prediction_type": "epsilon"}, "epsilon"),
    ],
)
def test_prediction_markers(keys: dict, metadata: dict, expected: str | None) -> None:
    assert prediction_type_from_markers(keys, metadata) == expected


class _StubUNet(torch.nn.Module):
    """Answers like a UNet whose output is input + offset, to check the decision rule."""

    def __init__(self, offset: float) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.offset = offset
        self.config = SimpleNamespace(in_channels=4, cross_attention_dim=16)
        self.seen: list[tuple[torch.Size, torch.Tensor]] = []

    def forward(self, x, t, encoder_hidden_states):
        self.seen.append((encoder_hidden_states.shape, t))
        return SimpleNamespace(sample=x + self.offset)


@pytest.mark.parametrize(("offset", "is_v"), [(0.0, False), (-0.9, False), (-1.2, True)])
def test_sd2_test_forward_rule(offset: float, is_v: bool) -> None:
    """A1111's rule: mean(out - in) < -1 at t=999 on a constant 0.5 latent means v-prediction."""
    unet = _StubUNet(offset)
    assert looks_like_v_prediction(unet) is is_v
    shape, t = unet.seen[0]
    assert shape == (1, 77, 16) and t.tolist() == [999]
