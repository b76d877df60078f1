"""diffusers → original layout: exact key placement, and inversion of diffusers' own converters."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from modules.models.original_layout import (
    LayoutError,
    open_clip_to_original,
    original_state_dict,
    save_original_checkpoint,
    unet_to_original,
    vae_to_original,
)
from modules.models.sd_model import ModelFamily
from modules.models.state_dict import read_state_dict
from tests.fixtures.tiny_models import build_tiny_components


@pytest.fixture(scope="module")
def sd1():
    return build_tiny_components(ModelFamily.SD1)


@pytest.fixture(scope="module")
def sdxl():
    return build_tiny_components(ModelFamily.SDXL)


def test_unet_block_indices_follow_the_config(sd1) -> None:
    """Two levels, one resnet each, attention on level 1 only (see tiny_models)."""
    keys = {
        k.split(".weight")[0] for k in unet_to_original(sd1.unet.state_dict(), sd1.unet.config, prefix="")
    }
    expected_present = {
        "input_blocks.0.0",  # conv_in
        "input_blocks.1.0.in_layers.2",  # level 0 resnet conv1
        "input_blocks.2.0.op",  # level 0 downsampler at (0+1)*(1+1)
        "input_blocks.3.0.in_layers.0",  # level 1 resnet
        "input_blocks.3.1.transformer_blocks.0.attn2.to_k",  # level 1 attention
        "middle_block.0.emb_layers.1",
        "middle_block.1.proj_in",
        "middle_block.2.out_layers.3",
        "output_blocks.0.1.proj_out",
        "output_blocks.1.0.skip_connection",
        "output_blocks.1.2.conv",  # upsampler after attention → index 2
        "output_blocks.3.0.in_layers.2",
        "time_embed.0",
        "time_embed.2",
        "out.0",
        "out.2",
    }
    assert expected_present <= keys
    assert "input_blocks.4.0.op" not in keys and "output_blocks.3.1.conv" not in keys


def test_unet_upsampler_without_attention_sits_at_index_1() -> None:
    config = {"layers_per_block": 1, "up_block_types": ["UpBlock2D", "UpBlock2D"]}
    sd = {"up_blocks.0.upsamplers.0.conv.weight": torch.zeros(1)}
    assert list(unet_to_original(sd, config, prefix="")) == ["output_blocks.1.1.conv.weight"]


def test_sdxl_label_embedding_and_depth_two(sdxl) -> None:
    keys = set(unet_to_original(sdxl.unet.state_dict(), sdxl.unet.config))
    assert "model.diffusion_model.label_emb.0.0.weight" in keys
    assert "model.diffusion_model.label_emb.0.2.bias" in keys
    assert "model.diffusion_model.input_blocks.3.1.transformer_blocks.1.attn1.to_q.weight" in keys
    assert "model.diffusion_model.middle_block.1.transformer_blocks.1.ff.net.2.weight" in keys


def test_vae_blocks_reverse_and_attention_becomes_conv(sd1) -> None:
    orig = vae_to_original(sd1.vae.state_dict(), sd1.vae.config, prefix="")
    assert orig["encoder.mid.attn_1.q.weight"].shape == (64, 64, 1, 1)
    assert "decoder.up.3.upsample.conv.weight" in orig  # diffusers up_blocks.0 is the deepest level
    assert "decoder.up.0.upsample.conv.weight" not in orig
    assert torch.equal(
        orig["decoder.up.0.block.0.conv1.weight"],
        sd1.vae.state_dict()["decoder.up_blocks.3.resnets.0.conv1.weight"],
    )
    assert "encoder.norm_out.weight" in orig and "decoder.mid.block_2.conv2.bias" in orig


def test_open_clip_fuses_qkv_and_transposes_projection(sdxl) -> None:
    g = sdxl.text_encoders[1]
    orig = open_clip_to_original(g.state_dict(), "p.")
    width = g.config.hidden_size
    fused = orig["p.transformer.resblocks.1.attn.in_proj_weight"]
    assert fused.shape == (3 * width, width)
    assert torch.equal(
        fused[width : 2 * width], g.state_dict()["text_model.encoder.layers.1.self_attn.k_proj.weight"]
    )
    assert torch.equal(orig["p.text_projection"], g.state_dict()["text_projection.weight"].T)
    assert {
        "p.positional_embedding",
        "p.token_embedding.weight",
        "p.ln_final.bias",
        "p.transformer.resblocks.0.mlp.c_fc.weight",
        "p.transformer.resblocks.0.ln_2.weight",
    } <= set(orig)


@pytest.mark.parametrize(
    "family",
    [ModelFamily.SD1, ModelFamily.SD2, ModelFamily.SDXL, ModelFamily.SDXL_REFINER],
    ids=lambda f: f.value,
)
def test_diffusers_converters_invert_our_writer(family: ModelFamily) -> None:
    """Original → diffusers with diffusers' own converters gives back every tensor unchanged."""
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint

    c = build_tiny_components(family)
    sd = original_state_dict(unet=c.unet, vae=c.vae, text_encoders=c.text_encoders, family=family)
    unet_back = convert_ldm_unet_checkpoint(dict(sd), dict(c.unet.config))
    vae_back = convert_ldm_vae_checkpoint(
        {k: v for k, v in sd.items() if k.startswith("first_stage_model.")}, dict(c.vae.config)
    )
    for original, back in ((c.unet.state_dict(), unet_back), (c.vae.state_dict(), vae_back)):
        assert set(back) == set(original)
        assert all(torch.equal(back[k], original[k]) for k in original)


def test_sd1_text_encoder_gets_text_model_prefix(sd1) -> None:
    sd = original_state_dict(
        unet=sd1.unet, vae=sd1.vae, text_encoders=sd1.text_encoders, family=ModelFamily.SD1
    )
    text = [k for k in sd if k.startswith("cond_stage_model.")]
    assert text and all(k.startswith("cond_stage_model.transformer.text_model.") for k in text)
    assert "cond_stage_model.transformer.text_model.final_layer_norm.weight" in sd


def test_save_fp16_safetensors_and_ckpt(tmp_path: Path, sd1) -> None:
    kwargs = dict(unet=sd1.unet, vae=sd1.vae, text_encoders=sd1.text_encoders, family=ModelFamily.SD1)
    a = read_state_dict(save_original_checkpoint(tmp_path / "a.safetensors", dtype=torch.float16, **kwargs))
    b = read_state_dict(save_original_checkpoint(tmp_path / "b.ckpt", format="ckpt", **kwargs))
    assert set(a) == set(b)
    assert all(v.dtype == torch.float16 for v in a.values())
    key = "model.diffusion_model.out.2.weight"
    assert torch.equal(b[key], sd1.unet.state_dict()["conv_out.weight"])
    assert torch.equal(a[key], sd1.unet.state_dict()["conv_out.weight"].half())
    with pytest.raises(ValueError, match="Unknown checkpoint format 'onnx'"):
        save_original_checkpoint(tmp_path / "c.onnx", format="onnx", **kwargs)


def test_writer_refuses_text_encoders_that_would_not_reload(sd1, sdxl) -> None:
    from transformers import CLIPTextConfig, CLIPTextModel

    odd = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=100,
            hidden_size=64,
            intermediate_size=8,
            num_hidden_layers=1,
            num_attention_heads=4,
            hidden_act="quick_gelu",
        )
    )
    with pytest.raises(LayoutError, match=r"num_attention_heads=4 \(the loader uses hidden_size // 64 = 1\)"):
        original_state_dict(unet=sd1.unet, vae=sd1.vae, text_encoders=[odd], family=ModelFamily.SD1)
    with pytest.raises(LayoutError, match="sdxl needs 2 text encoder"):
        original_state_dict(
            unet=sdxl.unet, vae=sdxl.vae, text_encoders=sdxl.text_encoders[:1], family=ModelFamily.SDXL
        )
    with pytest.raises(LayoutError, match="hidden_act='quick_gelu'"):
        original_state_dict(
            unet=sdxl.unet, vae=sdxl.vae, text_encoders=sd1.text_encoders, family=ModelFamily.SD2
        )
