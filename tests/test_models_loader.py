"""Loading original-layout checkpoints: every family reproduces the modules it was written from."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from modules.models.loader import CHECKPOINT_ERRORS, load_checkpoint
from modules.models.sd_model import ModelFamily, TextEncoderKind
from modules.models.state_dict import CheckpointLoadError
from tests.fixtures.tiny_models import (
    TinyComponents,
    assert_same_outputs,
    build_tiny_components,
    tiny_yaml,
    write_tiny_checkpoint,
)

FIXTURES = {
    ModelFamily.SD1: "tiny_sd1",
    ModelFamily.SD1_INPAINT: "tiny_sd1_inpaint",
    ModelFamily.SD2: "tiny_sd2",
    ModelFamily.SD2_V: "tiny_sd2v",
    ModelFamily.SD2_INPAINT: "tiny_sd2_inpaint",
    ModelFamily.SDXL: "tiny_sdxl",
    ModelFamily.SDXL_REFINER: "tiny_sdxl_refiner",
    ModelFamily.SDXL_INPAINT: "tiny_sdxl_inpaint",
}
KINDS = {
    ModelFamily.SD1: [TextEncoderKind.CLIP_L],
    ModelFamily.SD2: [TextEncoderKind.OPEN_CLIP_H],
    ModelFamily.SDXL: [TextEncoderKind.CLIP_L, TextEncoderKind.OPEN_CLIP_G],
    ModelFamily.SDXL_REFINER: [TextEncoderKind.OPEN_CLIP_G],
}


def _kinds(family: ModelFamily) -> list[TextEncoderKind]:
    if family.is_sdxl and family is not ModelFamily.SDXL_REFINER:
        return KINDS[ModelFamily.SDXL]
    return KINDS[ModelFamily.SD2 if family.is_sd2 else family if family in KINDS else ModelFamily.SD1]


@pytest.mark.parametrize("family", list(ModelFamily), ids=lambda f: f.value)
def test_round_trip_every_family(family: ModelFamily, request: pytest.FixtureRequest) -> None:
    path: Path = request.getfixturevalue(FIXTURES[family])
    started = time.perf_counter()
    model = load_checkpoint(path, title="tiny")
    elapsed = time.perf_counter() - started
    assert elapsed < 30, f"tiny model took {elapsed:.1f}s to load"  # ~0.2 s when the shared CPUs are idle

    assert model.family is family
    assert model.prediction_type == ("v_prediction" if family is ModelFamily.SD2_V else "epsilon")
    assert model.extra["prediction_type_source"] == "sidecar yaml"
    assert model.config_path == path.with_suffix(".yaml")
    assert model.source_path == path and model.title == "tiny"
    assert model.vae_scaling_factor == (0.13025 if family.is_sdxl else 0.18215)
    assert model.alphas_cumprod.shape == (1000,)
    assert (model.latent_channels, model.vae_downscale) == (4, 8)
    assert model.unet_in_channels == (9 if family.is_inpainting else 4)
    assert [b.kind for b in model.text_encoders] == _kinds(family)
    for bundle in model.text_encoders:
        assert bundle.pad_token_id == (49407 if bundle.kind is TextEncoderKind.CLIP_L else 0)
        assert bundle.penultimate_default is (family not in (ModelFamily.SD1, ModelFamily.SD1_INPAINT))
        assert bundle.tokenizer("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    params = [
        p for m in (model.unet, model.vae, *(b.model for b in model.text_encoders)) for p in m.parameters()
    ]
    assert all(p.device.type == "cpu" and p.dtype == torch.float32 and not p.requires_grad for p in params)
    assert_same_outputs(build_tiny_components(family), model)


def test_ckpt_format_loads_identically(tmp_path: Path) -> None:
    source = build_tiny_components(ModelFamily.SDXL, seed=3)
    path = write_tiny_checkpoint(source, tmp_path / "tiny.ckpt", fmt="ckpt")
    assert_same_outputs(source, load_checkpoint(path))


def test_half_precision_and_fp32_vae(tiny_sd1: Path) -> None:
    model = load_checkpoint(tiny_sd1, dtype=torch.float16, vae_dtype=torch.float32)
    assert next(model.unet.parameters()).dtype == torch.float16
    assert next(model.text_encoders[0].model.parameters()).dtype == torch.float16
    assert next(model.vae.parameters()).dtype == torch.float32


def test_tiny_checkpoint_without_sidecar_reports_mismatch(tmp_path: Path) -> None:
    path = write_tiny_checkpoint(
        build_tiny_components(ModelFamily.SD1), tmp_path / "bare.safetensors", with_yaml=False
    )
    with pytest.raises(
        CheckpointLoadError,
        match=r"UNet weights do not match the architecture from '.*v1-inference.yaml'.*"
        r"missing.*A wrong sidecar .yaml",
    ):
        load_checkpoint(path)


def test_wrong_sidecar_is_named(tmp_path: Path, tiny_sd2: Path) -> None:
    path = write_tiny_checkpoint(
        build_tiny_components(ModelFamily.SD1_INPAINT), tmp_path / "x.safetensors", with_yaml=False
    )
    path.with_suffix(".yaml").write_text(tiny_sd2.with_suffix(".yaml").read_text())
    with pytest.raises(CheckpointLoadError, match=r"take 9 input channels but config '.*x.yaml' says 4"):
        load_checkpoint(path)


def _configs_dir_with_tiny_sd2(tmp_path: Path, source: TinyComponents) -> Path:
    from modules.models.original_layout import write_original_config

    configs = tmp_path / "configs"
    configs.mkdir()
    for param, name in (("eps", "v2-inference.yaml"), ("v", "v2-inference-v.yaml")):
        source.parameterization = param
        write_original_config(configs / name, tiny_yaml(source))
    return configs


def test_sd2_v_from_safetensors_marker_without_sidecar(tmp_path: Path) -> None:
    source = build_tiny_components(ModelFamily.SD2)
    configs = _configs_dir_with_tiny_sd2(tmp_path, source)
    path = write_tiny_checkpoint(source, tmp_path / "v.safetensors", with_yaml=False)
    from modules.models.state_dict import read_state_dict

    save_file(read_state_dict(path), str(path), metadata={"modelspec.prediction_type": "v"})
    model = load_checkpoint(path, configs_dir=configs)
    assert (model.family, model.prediction_type) == (ModelFamily.SD2_V, "v_prediction")
    assert model.extra["prediction_type_source"] == "checkpoint marker"
    assert model.config_path == configs / "v2-inference-v.yaml"


def test_sd2_without_sidecar_or_marker_runs_the_test_forward(tmp_path: Path) -> None:
    source = build_tiny_components(ModelFamily.SD2)
    configs = _configs_dir_with_tiny_sd2(tmp_path, source)
    path = write_tiny_checkpoint(source, tmp_path / "plain.safetensors", with_yaml=False)
    model = load_checkpoint(path, configs_dir=configs)
    assert model.extra["prediction_type_source"] == "test forward at t=999"
    is_v = model.prediction_type == "v_prediction"
    assert model.family is (ModelFamily.SD2_V if is_v else ModelFamily.SD2)
    assert model.config_path == configs / ("v2-inference-v.yaml" if is_v else "v2-inference.yaml")


def test_not_a_model_and_broken_files_are_checkpoint_errors(tmp_path: Path) -> None:
    lora = tmp_path / "lora.safetensors"
    save_file({"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.zeros(4, 4)}, str(lora))
    with pytest.raises(CHECKPOINT_ERRORS, match="looks like a LoRA"):
        load_checkpoint(lora)
    with pytest.raises(CHECKPOINT_ERRORS, match="does not exist"):
        load_checkpoint(tmp_path / "missing.safetensors")
