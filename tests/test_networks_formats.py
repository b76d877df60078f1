"""LoRA/LyCORIS layer formats checked against what the layers compute, and key dialects."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from modules.networks.lora_keys import group_lora_keys, split_key
from modules.networks.lora_weights import layer_delta

g = torch.Generator().manual_seed(0)


def rnd(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=g)


def test_tucker_locon_equals_down_mid_up_convolutions():
    conv = torch.nn.Conv2d(6, 5, 3, padding=1)
    down, mid, up = rnd(2, 6, 1, 1), rnd(2, 2, 3, 3), rnd(5, 2, 1, 1)
    delta = layer_delta({"lora_down": down, "lora_mid": mid, "lora_up": up, "alpha": torch.tensor(2.0)},
                        conv.weight).weight
    x = rnd(1, 6, 7, 7)
    chained = F.conv2d(F.conv2d(F.conv2d(x, down), mid, padding=1), up)
    assert torch.allclose(F.conv2d(x, delta, padding=1), chained, atol=1e-4)


def test_locon_kxk_down_and_alpha_scale():
    conv = torch.nn.Conv2d(4, 3, 3, padding=1)
    down, up = rnd(2, 4, 3, 3), rnd(3, 2, 1, 1)
    delta = layer_delta({"lora_down": down, "lora_up": up, "alpha": torch.tensor(1.0)}, conv.weight).weight
    x = rnd(1, 4, 5, 5)
    assert torch.allclose(F.conv2d(x, delta, padding=1), F.conv2d(F.conv2d(x, down, padding=1), up) * 0.5, atol=1e-4)


def test_loha_lokr_ia3_full():
    w = torch.nn.Linear(4, 6).weight
    a1, b1, a2, b2 = rnd(6, 2), rnd(2, 4), rnd(6, 2), rnd(2, 4)
    loha = layer_delta({"hada_w1_a": a1, "hada_w1_b": b1, "hada_w2_a": a2, "hada_w2_b": b2}, w).weight
    assert torch.allclose(loha, (a1 @ b1) * (a2 @ b2))
    k1, k2 = rnd(2, 2), rnd(3, 2)
    assert torch.allclose(layer_delta({"lokr_w1": k1, "lokr_w2": k2}, w).weight, torch.kron(k1, k2))
    scale = rnd(6)
    assert torch.allclose(layer_delta({"weight": scale}, w).weight, w * scale[:, None])
    scale_in = rnd(4)
    ia3_in = layer_delta({"weight": scale_in, "on_input": torch.tensor(True)}, w).weight
    assert torch.allclose(ia3_in, w * scale_in[None, :])
    diff, diff_b = rnd(6, 4), rnd(6)
    full = layer_delta({"diff": diff, "diff_b": diff_b}, w)
    assert torch.equal(full.weight, diff) and torch.equal(full.bias, diff_b)


def test_key_dialects_reduce_to_one_name():
    same = ("unet", "down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q")
    for key, param in (
        ("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_up.weight", "lora_up"),
        ("unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_A.weight", "lora_down"),
        ("base_model.model.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_B.weight", "lora_up"),
        ("unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_q_lora.down.weight", "lora_down"),
    ):
        assert split_key(key) == (same, param), key
    assert split_key("lora_te2_text_model_encoder_layers_0_mlp_fc1.alpha") == (
        ("te1", "text_model_encoder_layers_0_mlp_fc1"), "alpha")
    assert split_key("text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_linear_layer.up.weight") == (
        ("te0", "text_model_encoder_layers_0_self_attn_q_proj"), "lora_up")
    groups, unknown = group_lora_keys({"lora_unet_x.lora_up.weight": rnd(1), "something_else": rnd(1)})
    assert list(groups) == [("unet", "x")] and unknown == ["something_else"]
