"""Shipped yaml configs, sidecar lookup, parsing errors, and the yaml ↔ diffusers config conversions."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from modules.models.configs import (
    CONFIG_FILES,
    DEFAULT_CONFIGS_DIR,
    ConfigError,
    find_config,
    load_model_config,
    read_yaml,
    unet_diffusers_config,
    vae_diffusers_config,
)
from modules.models.loader import alphas_cumprod
from modules.models.original_layout import original_config_from_diffusers, write_original_config
from modules.models.sd_model import ModelFamily
from tests.fixtures.tiny_models import tiny_unet_config, tiny_vae_config

# Our own choices that diffusers' converter does not make (it fixes sample_size at 64 latents).
_OURS_ONLY = {"sample_size", "upcast_attention"}


@pytest.mark.parametrize("family", list(ModelFamily), ids=lambda f: f.value)
def test_shipped_configs_match_diffusers_own_conversion(family: ModelFamily) -> None:
    """diffusers' create_*_diffusers_config_from_ldm handles the real sizes: use it as the oracle."""
    from diffusers.loaders.single_file_utils import (
        create_unet_diffusers_config_from_ldm,
        create_vae_diffusers_config_from_ldm,
    )

    path = DEFAULT_CONFIGS_DIR / CONFIG_FILES[family]
    cfg = load_model_config(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = create_unet_diffusers_config_from_ldm(read_yaml(path), {}, image_size=512)
        theirs_vae = create_vae_diffusers_config_from_ldm(read_yaml(path), {}, image_size=512)
    ours = unet_diffusers_config(cfg, family)
    assert {k: v for k, v in ours.items() if k not in _OURS_ONLY and v is not None} == {
        k: v for k, v in theirs.items() if k not in _OURS_ONLY and v is not None
    }
    assert {k: v for k, v in vae_diffusers_config(cfg).items() if k != "sample_size"} == {
        k: v for k, v in theirs_vae.items() if k != "sample_size"
    }


@pytest.mark.parametrize(
    ("family", "scale", "param", "in_ch", "context", "adm"),
    [
        (ModelFamily.SD1, 0.18215, "eps", 4, 768, None),
        (ModelFamily.SD1_INPAINT, 0.18215, "eps", 9, 768, None),
        (ModelFamily.SD2, 0.18215, "eps", 4, 1024, None),
        (ModelFamily.SD2_V, 0.18215, "v", 4, 1024, None),
        (ModelFamily.SD2_INPAINT, 0.18215, "eps", 9, 1024, None),
        (ModelFamily.SDXL, 0.13025, "eps", 4, 2048, 2816),
        (ModelFamily.SDXL_REFINER, 0.13025, "eps", 4, 1280, 2560),
        (ModelFamily.SDXL_INPAINT, 0.13025, "eps", 9, 2048, 2816),
    ],
)
def test_shipped_config_facts(family, scale, param, in_ch, context, adm) -> None:
    cfg = load_model_config(DEFAULT_CONFIGS_DIR / CONFIG_FILES[family])
    assert (cfg.scale_factor, cfg.parameterization, cfg.unet.in_channels) == (scale, param, in_ch)
    assert (cfg.unet.context_dim, cfg.unet.adm_in_channels) == (context, adm)
    assert (cfg.linear_start, cfg.linear_end, cfg.timesteps) == (0.00085, 0.012, 1000)
    assert cfg.size_embed_dim == 256


@pytest.mark.parametrize(
    ("family", "unet_params"),
    [
        (ModelFamily.SD1, 859_520_964),
        (ModelFamily.SD1_INPAINT, 859_535_364),
        (ModelFamily.SD2, 865_910_724),
        (ModelFamily.SDXL, 2_567_463_684),
    ],
)
def test_standard_parameter_counts(family: ModelFamily, unet_params: int) -> None:
    """The published sizes of SD1.5, its inpainting variant, SD2 and SDXL (built on the meta device)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    cfg = load_model_config(DEFAULT_CONFIGS_DIR / CONFIG_FILES[family])
    with torch.device("meta"):
        unet = UNet2DConditionModel(**unet_diffusers_config(cfg, family))
        vae = AutoencoderKL(**vae_diffusers_config(cfg))
    assert sum(p.numel() for p in unet.parameters()) == unet_params
    assert sum(p.numel() for p in vae.parameters()) == 83_653_863


def test_sidecar_yaml_overrides_shipped_config(tmp_path: Path) -> None:
    ckpt = tmp_path / "model.safetensors"
    assert find_config(ckpt, ModelFamily.SD1) == DEFAULT_CONFIGS_DIR / "v1-inference.yaml"
    assert find_config(ckpt, ModelFamily.SDXL) == DEFAULT_CONFIGS_DIR / "sd_xl_base.yaml"
    sidecar = tmp_path / "model.yaml"
    sidecar.write_text((DEFAULT_CONFIGS_DIR / "v2-inference-v.yaml").read_text())
    assert find_config(ckpt, ModelFamily.SD1) == sidecar


def test_missing_shipped_config_and_bad_yaml_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="shipped config .*v1-inference.yaml.* is missing"):
        find_config(tmp_path / "m.safetensors", ModelFamily.SD1, configs_dir=tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("just: text\n")
    with pytest.raises(ConfigError, match="no top-level 'model:' section"):
        load_model_config(bad)
    text = (
        (DEFAULT_CONFIGS_DIR / "v1-inference.yaml").read_text().replace("        model_channels: 320\n", "")
    )
    bad.write_text(text)
    with pytest.raises(ConfigError, match=r"bad.yaml' lacks unet params.model_channels"):
        load_model_config(bad)
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="could not be read"):
        load_model_config(bad)


@pytest.mark.parametrize("family", list(ModelFamily), ids=lambda f: f.value)
def test_diffusers_config_survives_the_yaml_round_trip(tmp_path: Path, family: ModelFamily) -> None:
    """diffusers config → original yaml (our writer) → our parser → the same diffusers config."""
    unet_cfg, vae_cfg = tiny_unet_config(family), tiny_vae_config()
    param = "v" if family is ModelFamily.SD2_V else "eps"
    data = original_config_from_diffusers(unet_cfg, vae_cfg, family, scale_factor=0.5, parameterization=param)
    cfg = load_model_config(write_original_config(tmp_path / "tiny.yaml", data))
    back = unet_diffusers_config(cfg, family)
    for key, value in unet_cfg.items():
        if key not in ("sample_size", "norm_num_groups"):
            assert back.get(key, 1 if key == "transformer_layers_per_block" else None) == value, key
    vae_back = vae_diffusers_config(cfg)
    assert all(vae_back[k] == v for k, v in vae_cfg.items() if k != "norm_num_groups")
    assert (cfg.scale_factor, cfg.parameterization) == (0.5, param)


def test_alphas_cumprod_matches_diffusers_scaled_linear() -> None:
    from diffusers import DDPMScheduler

    ours = alphas_cumprod(0.00085, 0.012, 1000)
    theirs = DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear").alphas_cumprod
    assert ours.dtype == torch.float32 and ours.shape == (1000,)
    assert torch.allclose(ours, theirs, rtol=1e-6, atol=1e-7)
    assert ours[0].item() == pytest.approx(1 - 0.00085, abs=1e-7)
    assert ours[-1].item() == pytest.approx(0.0046600, abs=1e-6)
