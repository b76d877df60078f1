"""A full-size SD1.5-architecture checkpoint (random weights) through the standard v1 config.

Slow (about 2 GB written, ~6 GB RAM at peak): run with `pytest -m slow tests/test_models_full_size.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from modules.models.configs import (
    DEFAULT_CONFIGS_DIR,
    load_model_config,
    unet_diffusers_config,
    vae_diffusers_config,
)
from modules.models.loader import load_checkpoint
from modules.models.original_layout import save_original_checkpoint
from modules.models.sd_model import ModelFamily, TextEncoderKind

SD15_UNET_PARAMS = 859_520_964
SD15_VAE_PARAMS = 83_653_863
CLIP_L_PARAMS = 123_060_480


def _random_fp16(factory, seed: int) -> torch.nn.Module:
    """Build on the meta device, then fill with small random fp16 values (no slow default init)."""
    with torch.device("meta"):
        module = factory()
    module = module.to_empty(device="cpu").to(torch.float16)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.02)
    return module.eval()


def _write_sd15(path: Path) -> Path:
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    cfg = load_model_config(DEFAULT_CONFIGS_DIR / "v1-inference.yaml")
    clip = CLIPTextConfig(
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=12,
        num_attention_heads=12,
        max_position_embeddings=77,
        hidden_act="quick_gelu",
    )
    unet = _random_fp16(lambda: UNet2DConditionModel(**unet_diffusers_config(cfg, ModelFamily.SD1)), 0)
    vae = _random_fp16(lambda: AutoencoderKL(**vae_diffusers_config(cfg)), 1)
    text = _random_fp16(lambda: CLIPTextModel(clip), 2)
    return save_original_checkpoint(path, unet=unet, vae=vae, text_encoders=[text], family=ModelFamily.SD1)


@pytest.mark.slow
def test_full_size_sd15_loads_with_the_shipped_config(tmp_path: Path) -> None:
    path = _write_sd15(tmp_path / "sd15-random.safetensors")
    assert not path.with_suffix(".yaml").exists()

    model = load_checkpoint(path)

    assert model.family is ModelFamily.SD1
    assert model.config_path == DEFAULT_CONFIGS_DIR / "v1-inference.yaml"
    assert model.extra["prediction_type_source"] == "shipped config"
    assert sum(p.numel() for p in model.unet.parameters()) == SD15_UNET_PARAMS
    assert sum(p.numel() for p in model.vae.parameters()) == SD15_VAE_PARAMS
    (bundle,) = model.text_encoders
    assert bundle.kind is TextEncoderKind.CLIP_L
    assert sum(p.numel() for p in bundle.model.parameters()) == CLIP_L_PARAMS
    c = bundle.model.config
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.intermediate_size) == (
        768,
        12,
        12,
        3072,
    )
    with torch.no_grad():
        ids = bundle.tokenizer(
            ["a photo of a cat"], padding="max_length", max_length=77, return_tensors="pt"
        ).input_ids
        context = bundle.model(ids).last_hidden_state
        assert context.shape == (1, 77, 768)
        eps = model.unet(torch.randn(1, 4, 8, 8), 999, context).sample
        assert eps.shape == (1, 4, 8, 8) and torch.isfinite(eps).all()
        image = model.vae.decode(torch.randn(1, 4, 8, 8)).sample
        assert image.shape == (1, 3, 64, 64) and torch.isfinite(image).all()

    from modules.engine.generate import generate
    from modules.engine.request import GenerationRequest
    from tests.engine_helpers import engine_context

    result = generate(GenerationRequest(prompt="a photo of a cat", seed=1, steps=2, width=64, height=64,
                                        sampler_name="Euler a", save_images=False),
                      engine_context(path, tmp_path, model=model))
    assert result.images[0].size == (64, 64)
    assert "Steps: 2, Sampler: Euler a" in result.infotexts[0]
