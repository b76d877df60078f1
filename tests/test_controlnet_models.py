"""ControlNet model files: every layout loads bit-identically; wrong family and foreign files are refused."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from modules.controlnet.model_files import ControlNetFile, find_controlnet_model, scan_controlnet_models
from modules.controlnet.model_loading import ControlNetLoadError, load_controlnet
from modules.hashing import model_hash_old
from modules.models.sd_model import ModelFamily
from tests.fixtures.tiny_controlnets import (
    build_tiny_controlnet,
    write_diffusers_file,
    write_diffusers_folder,
    write_lllyasviel,
)
from tests.fixtures.tiny_models import build_tiny_components, unet_test_inputs

CPU = torch.device("cpu")


def _layouts(net, folder):
    return [
        ControlNetFile(write_lllyasviel(net, folder / "v10.pth")),
        ControlNetFile(write_lllyasviel(net, folder / "v11_noprefix.safetensors", prefix="")),
        ControlNetFile(write_diffusers_file(net, folder / "diffusers_single.safetensors")),
        ControlNetFile(write_diffusers_folder(net, folder / "diffusers_folder"), is_folder=True),
    ]


@pytest.mark.parametrize("family", [ModelFamily.SD1, ModelFamily.SDXL])
def test_every_layout_loads_to_the_same_network(tmp_path, family):
    net = build_tiny_controlnet(family)
    unet = build_tiny_components(family).unet
    x, ctx, extra = unet_test_inputs(unet)
    hint = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ref_down, ref_mid = net(x, 500, ctx, hint, **extra, return_dict=False)
        for entry in _layouts(net, tmp_path):
            loaded = load_controlnet(entry, unet.config, family, CPU, torch.float32)
            down, mid = loaded.model(x, 500, ctx, hint, **extra, return_dict=False)
            assert torch.equal(mid, ref_mid), entry.path.name
            assert all(torch.equal(a, b) for a, b in zip(down, ref_down, strict=True)), entry.path.name
            assert loaded.family == ("SDXL" if family.is_sdxl else "SD1.x")


def test_v10_full_file_with_a_whole_sd_model_beside_the_control_model(tmp_path):
    net = build_tiny_controlnet(ModelFamily.SD1)
    path = write_lllyasviel(net, tmp_path / "control_sd15_full.safetensors")
    from safetensors.torch import load_file

    weights = load_file(str(path))
    weights["model.diffusion_model.input_blocks.0.0.weight"] = torch.zeros(32, 4, 3, 3)
    weights["first_stage_model.decoder.conv_in.weight"] = torch.zeros(1)
    save_file(weights, str(path))
    unet = build_tiny_components(ModelFamily.SD1).unet
    load_controlnet(ControlNetFile(path), unet.config, ModelFamily.SD1, CPU, torch.float32)


def test_wrong_family_names_both(tmp_path):
    path = write_lllyasviel(build_tiny_controlnet(ModelFamily.SDXL), tmp_path / "control_xl.safetensors")
    unet = build_tiny_components(ModelFamily.SD1).unet
    with pytest.raises(ControlNetLoadError) as err:
        load_controlnet(ControlNetFile(path), unet.config, ModelFamily.SD1, CPU, torch.float32)
    text = str(err.value)
    assert "control_xl [" in text and "SDXL" in text and "SD1.x" in text


def test_unsupported_control_files_and_foreign_files_are_explained(tmp_path):
    adapter = tmp_path / "control_lora_canny.safetensors"
    save_file({"lora_controlnet": torch.zeros(2), "input_blocks.0.0.up": torch.zeros(2, 2)}, str(adapter))
    other = tmp_path / "other.safetensors"
    save_file({"something.weight": torch.zeros(2)}, str(other))
    unet = build_tiny_components(ModelFamily.SD1).unet
    with pytest.raises(ControlNetLoadError, match="is a Control-LoRA"):
        load_controlnet(ControlNetFile(adapter), unet.config, ModelFamily.SD1, CPU, torch.float32)
    with pytest.raises(ControlNetLoadError, match="not a ControlNet model"):
        load_controlnet(ControlNetFile(other), unet.config, ModelFamily.SD1, CPU, torch.float32)


def test_listing_names_with_old_hash_and_lookup(tmp_path):
    net = build_tiny_controlnet(ModelFamily.SD1)
    write_lllyasviel(net, tmp_path / "sub" / "control_a.pth")
    write_diffusers_folder(net, tmp_path / "control_b")
    (tmp_path / "annotator").mkdir()
    write_lllyasviel(net, tmp_path / "annotator" / "not_a_model.pth")
    models = scan_controlnet_models([tmp_path])
    assert [m.stem for m in models] == ["control_a", "control_b"]
    a = models[0]
    assert a.title == f"control_a [{model_hash_old(a.path)}]" and len(a.short_hash) == 8
    assert find_controlnet_model(a.title, models) is a
    assert find_controlnet_model("control_a [00000000]", models) is a  # stale hash from a pasted infotext
    assert find_controlnet_model("control_b", models) is models[1]
    assert find_controlnet_model("missing", models) is None


def test_sdxl_small_controlnet_with_an_empty_attention_level(tmp_path):
    """SDXL's "mid"/"small" ControlNets keep attention blocks with no transformer layers at some levels."""
    from diffusers import ControlNetModel

    unet = build_tiny_components(ModelFamily.SDXL).unet
    full = build_tiny_controlnet(ModelFamily.SDXL)
    config = {k: v for k, v in full.config.items() if not k.startswith("_")}
    torch.manual_seed(0)
    small = ControlNetModel(**{**config, "transformer_layers_per_block": [1, 0]}).eval()
    x, ctx, extra = unet_test_inputs(unet)
    hint = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        ref = small(x, 500, ctx, hint, **extra, return_dict=False)
        for entry in (ControlNetFile(write_diffusers_file(small, tmp_path / "small.safetensors")),
                      ControlNetFile(write_lllyasviel(small, tmp_path / "small_ldm.safetensors"))):
            loaded = load_controlnet(entry, unet.config, ModelFamily.SDXL, CPU, torch.float32)
            assert list(loaded.model.config.transformer_layers_per_block) == [1, 0]
            assert torch.equal(loaded.model(x, 500, ctx, hint, **extra, return_dict=False)[1], ref[1])
