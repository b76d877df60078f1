"""Swapping the VAE (original and diffusers layouts) and loading local diffusers folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from modules.models.loader import load_checkpoint, replace_vae
from modules.models.original_layout import vae_to_original
from modules.models.sd_model import ModelFamily, TextEncoderKind
from modules.models.state_dict import CheckpointLoadError
from tests.fixtures.tiny_models import TinyComponents, assert_same_outputs, build_tiny_components


def _decode(vae, seed: int = 5) -> torch.Tensor:
    z = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return vae.decode(z).sample


@pytest.fixture(scope="module")
def donor() -> TinyComponents:
    """A VAE with other weights than the tiny checkpoints' (seed 7)."""
    return build_tiny_components(ModelFamily.SD1, seed=7)


@pytest.mark.parametrize("layout", ["original", "original-prefixed", "diffusers"])
def test_replace_vae_from_file(tmp_path: Path, tiny_sd1: Path, donor: TinyComponents, layout: str) -> None:
    sd = donor.vae.state_dict()
    if layout == "original":
        weights = vae_to_original(sd, donor.vae.config, prefix="")
        weights["loss.logvar"] = torch.zeros(1)  # training leftovers found in real VAE files
    elif layout == "original-prefixed":
        weights = vae_to_original(sd, donor.vae.config)
    else:
        weights = dict(sd)
    path = tmp_path / f"{layout}.vae.safetensors"
    save_file({k: v.contiguous() for k, v in weights.items()}, str(path))

    model = load_checkpoint(tiny_sd1)
    before = _decode(model.vae)
    new = replace_vae(model, path)
    assert model.vae is new
    assert model.extra["vae_source"] == str(path)
    assert torch.equal(_decode(model.vae), _decode(donor.vae))
    assert not torch.equal(before, _decode(model.vae))


def test_replace_vae_keeps_dtype_and_rejects_other_architectures(
    tiny_sd1: Path, donor: TinyComponents
) -> None:
    model = load_checkpoint(tiny_sd1, dtype=torch.float16, vae_dtype=torch.float32)
    replace_vae(model, vae_to_original(donor.vae.state_dict(), donor.vae.config))
    assert next(model.vae.parameters()).dtype == torch.float32
    bad = {k: v for k, v in donor.vae.state_dict().items() if not k.startswith("decoder.mid_block")}
    with pytest.raises(CheckpointLoadError, match="VAE weights do not match.*missing.*decoder.mid_block"):
        replace_vae(model, bad)


def _save_diffusers_folder(c: TinyComponents, folder: Path, prediction: str) -> Path:
    index = {
        "_class_name": "StableDiffusionPipeline",
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
        "scheduler": ["diffusers", "EulerDiscreteScheduler"],
        "text_encoder": [None, None],
        "text_encoder_2": [None, None],
    }
    c.unet.save_pretrained(folder / "unet")
    c.vae.save_pretrained(folder / "vae")
    names = {1: ["text_encoder"], 2: ["text_encoder", "text_encoder_2"]}[len(c.text_encoders)]
    if c.family is ModelFamily.SDXL_REFINER:
        names = ["text_encoder_2"]
    for name, model in zip(names, c.text_encoders, strict=True):
        model.save_pretrained(folder / name)
        index[name] = ["transformers", type(model).__name__]
    (folder / "scheduler").mkdir()
    scheduler = {
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "num_train_timesteps": 1000,
        "prediction_type": prediction,
    }
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(scheduler))
    (folder / "model_index.json").write_text(json.dumps(index))
    return folder


@pytest.mark.parametrize(
    ("family", "prediction", "kinds"),
    [
        (ModelFamily.SD2_V, "v_prediction", [TextEncoderKind.OPEN_CLIP_H]),
        (ModelFamily.SDXL, "epsilon", [TextEncoderKind.CLIP_L, TextEncoderKind.OPEN_CLIP_G]),
        (ModelFamily.SDXL_REFINER, "epsilon", [TextEncoderKind.OPEN_CLIP_G]),
    ],
    ids=["sd2-v", "sdxl", "sdxl-refiner"],
)
def test_diffusers_folder_loads_offline(
    tmp_path: Path, family: ModelFamily, prediction: str, kinds: list
) -> None:
    source = build_tiny_components(family, seed=4)
    folder = _save_diffusers_folder(source, tmp_path / "pipe", prediction)
    model = load_checkpoint(folder)
    assert (model.family, model.prediction_type, model.title) == (family, prediction, "pipe")
    assert [b.kind for b in model.text_encoders] == kinds
    assert all(b.penultimate_default for b in model.text_encoders)
    assert model.vae_scaling_factor == source.vae.config.scaling_factor
    assert_same_outputs(source, model)


def test_broken_diffusers_folder_names_the_part(tmp_path: Path) -> None:
    (tmp_path / "model_index.json").write_text(json.dumps({"unet": ["diffusers", "UNet2DConditionModel"]}))
    with pytest.raises(CheckpointLoadError, match="lacks 'unet/'"):
        load_checkpoint(tmp_path)
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "config.json").write_text("{not json")
    with pytest.raises(CheckpointLoadError, match="unet' could not be loaded"):
        load_checkpoint(tmp_path)
