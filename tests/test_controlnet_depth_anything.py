"""Depth Anything v1/v2 (`depth_anything`, `depth_anything_v2`) from the extension's original .pth
layout and from transformers-format folders, offline (sockets, torch.hub and the hub blocked).

The networks are tiny random DINOv2 + DPT builds. The original-layout file is written from the
transformers weights with the original repository's key names (written out below, independently
of the app's converter), so reading it back through the app's loader must give the same map as
the transformers folder holding the same weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from modules.api.controlnet_routes import DetectBody, detect
from modules.api.errors import ApiError
from modules.controlnet.preprocessors.annotators import AnnotatorLoadError, AnnotatorMissingError
from modules.controlnet.preprocessors.registry import PreprocessorRegistry
from modules.controlnet.service import ControlNetService
from tests.fixtures.offline import block_network


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    block_network(monkeypatch)


def _photo(h: int = 96, w: int = 136) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    image = np.stack([xx * 255 // w, yy * 255 // h, np.full_like(xx, 90)], axis=2).astype(np.uint8)
    image[(yy - h // 2) ** 2 + (xx - w // 3) ** 2 < (h // 4) ** 2] = 240
    return image


def _tiny(v2: bool) -> Any:
    """A 12-layer, 64-wide DINOv2 with a small DPT head (v1: the last four layers feed the head)."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    torch.manual_seed(0)
    backbone = Dinov2Config(hidden_size=64, num_hidden_layers=12, num_attention_heads=1, mlp_ratio=2,
                            patch_size=14, image_size=56, apply_layernorm=True, reshape_hidden_states=False,
                            out_indices=[3, 6, 9, 12] if v2 else [9, 10, 11, 12])
    config = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=64, neck_hidden_sizes=[8, 16, 32, 32],
                                 fusion_hidden_size=16, head_hidden_size=8, depth_estimation_type="relative")
    net = DepthAnythingForDepthEstimation(config).eval()
    with torch.no_grad():
        for p in net.parameters():  # fuller random weights than the init (its zero biases give flat maps)
            p.add_(torch.randn_like(p) * 0.05)
    return net


def _original_keys(net: Any) -> dict[str, torch.Tensor]:
    """The transformers weights under the original Depth Anything names (DINOv2 `pretrained.*`,
    DPT `depth_head.*`; refinenet1 is the shallowest fusion block, the qkv projections fused)."""
    sd = net.state_dict()
    out = {"pretrained.cls_token": sd["backbone.embeddings.cls_token"],
           "pretrained.mask_token": sd["backbone.embeddings.mask_token"],
           "pretrained.pos_embed": sd["backbone.embeddings.position_embeddings"]}
    for p in ("weight", "bias"):
        out[f"pretrained.patch_embed.proj.{p}"] = sd[f"backbone.embeddings.patch_embeddings.projection.{p}"]
        out[f"pretrained.norm.{p}"] = sd[f"backbone.layernorm.{p}"]
        for i in range(12):
            src, dst = f"backbone.encoder.layer.{i}", f"pretrained.blocks.{i}"
            for a, b in (("norm1", "norm1"), ("norm2", "norm2"), ("mlp.fc1", "mlp.fc1"), ("mlp.fc2", "mlp.fc2"),
                         ("attention.o_proj", "attn.proj")):
                out[f"{dst}.{b}.{p}"] = sd[f"{src}.{a}.{p}"]
            out[f"{dst}.attn.qkv.{p}"] = torch.cat([sd[f"{src}.attention.{n}_proj.{p}"] for n in "qkv"])
        for i in range(4):
            out[f"depth_head.projects.{i}.{p}"] = sd[f"neck.reassemble_stage.layers.{i}.projection.{p}"]
            if i != 2:
                out[f"depth_head.resize_layers.{i}.{p}"] = sd[f"neck.reassemble_stage.layers.{i}.resize.{p}"]
            fusion, refinenet = f"neck.fusion_stage.layers.{i}", f"depth_head.scratch.refinenet{4 - i}"
            out[f"{refinenet}.out_conv.{p}"] = sd[f"{fusion}.projection.{p}"]
            for unit in (1, 2):
                for conv in (1, 2):
                    out[f"{refinenet}.resConfUnit{unit}.conv{conv}.{p}"] = \
                        sd[f"{fusion}.residual_layer{unit}.convolution{conv}.{p}"]
        out[f"depth_head.scratch.output_conv1.{p}"] = sd[f"head.conv1.{p}"]
        out[f"depth_head.scratch.output_conv2.0.{p}"] = sd[f"head.conv2.{p}"]
        out[f"depth_head.scratch.output_conv2.2.{p}"] = sd[f"head.conv3.{p}"]
    for i in range(12):
        out[f"pretrained.blocks.{i}.ls1.gamma"] = sd[f"backbone.encoder.layer.{i}.layer_scale1.lambda1"]
        out[f"pretrained.blocks.{i}.ls2.gamma"] = sd[f"backbone.encoder.layer.{i}.layer_scale2.lambda1"]
    for i in range(4):
        out[f"depth_head.scratch.layer{i + 1}_rn.weight"] = sd[f"neck.convs.{i}.weight"]
    assert len(out) == len(sd) - 4 * 12  # every weight has its original name (q, k, v fused: 6 -> 2 per layer)
    return out


@pytest.fixture(scope="module")
def v1_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same tiny v1 network as the extension's .pth and as a transformers folder."""
    net = _tiny(v2=False)
    pth_root, folder_root = tmp_path_factory.mktemp("da-pth"), tmp_path_factory.mktemp("da-folder")
    (pth_root / "depth_anything").mkdir()
    torch.save(_original_keys(net), pth_root / "depth_anything" / "depth_anything_vitl14.pth")
    net.save_pretrained(folder_root / "depth_anything" / "depth-anything-large-hf")
    return pth_root, folder_root


def test_the_original_pth_and_the_transformers_folder_give_the_same_map(v1_files: tuple[Path, Path]) -> None:
    pth_root, folder_root = v1_files
    from_pth, call = PreprocessorRegistry(pth_root).run("depth_anything", _photo(), processor_res=96)
    from_folder, _ = PreprocessorRegistry(folder_root).run("depth_anything", _photo(), processor_res=96)
    assert from_pth.shape == (96, 136, 3) and from_pth.dtype == np.uint8 and call.resolution == 96
    assert from_pth.min() == 0 and from_pth.max() == 255  # stretched to the full range
    assert (from_pth[..., 0] == from_pth[..., 2]).all()  # grey
    assert np.abs(from_pth.astype(int) - from_folder.astype(int)).max() <= 1


def test_the_map_is_the_networks_inverse_depth_stretched(v1_files: tuple[Path, Path]) -> None:
    """Independently of the app's code: the network on the 518-px bicubic input, bilinear back,
    min-max to 0..255."""
    import cv2
    import torch.nn.functional as F
    from transformers import DepthAnythingForDepthEstimation

    _, folder_root = v1_files
    net = DepthAnythingForDepthEstimation.from_pretrained(folder_root / "depth_anything" / "depth-anything-large-hf")
    image = _photo()  # 96x136: short side 96 -> 518 x 733.8 -> multiples of 14: 518 x 728
    x = cv2.resize(image.astype(np.float32) / 255, (728, 518), interpolation=cv2.INTER_CUBIC)
    x = (x - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    with torch.no_grad():
        depth = net(pixel_values=torch.tensor(x.transpose(2, 0, 1)[None], dtype=torch.float32)).predicted_depth
    depth = F.interpolate(depth[:, None], (96, 136), mode="bilinear", align_corners=False)[0, 0].numpy()
    expected = ((depth - depth.min()) / (depth.max() - depth.min()) * 255).astype(np.uint8)
    out, _ = PreprocessorRegistry(folder_root).run("depth_anything", image, processor_res=96)
    assert np.abs(out[..., 0].astype(int) - expected.astype(int)).max() <= 1


def test_v2_reads_its_own_file_with_its_own_layers(tmp_path: Path) -> None:
    net = _tiny(v2=True)
    torch.save({"model": _original_keys(net)}, tmp_path / "depth_anything_v2_vitl.pth")
    net.save_pretrained(tmp_path / "depth_anything_v2" / "Depth-Anything-V2-Large-hf")
    reg = PreprocessorRegistry(tmp_path)
    from_pth, _ = reg.run("depth_anything_v2", _photo(), processor_res=64)
    assert from_pth.shape == (64, 91, 3)
    (tmp_path / "depth_anything_v2_vitl.pth").unlink()
    from_folder, _ = PreprocessorRegistry(tmp_path).run("depth_anything_v2", _photo(), processor_res=64)
    assert np.abs(from_pth.astype(int) - from_folder.astype(int)).max() <= 1
    torch.save(_original_keys(net), tmp_path / "depth_anything_vitl14.pth")  # the same weights read as v1
    as_v1, _ = PreprocessorRegistry(tmp_path).run("depth_anything", _photo(), processor_res=64)
    assert np.abs(as_v1.astype(int) - from_pth.astype(int)).max() > 8  # other layers feed the head


def test_names_and_control_type(tmp_path: Path) -> None:
    reg = PreprocessorRegistry(tmp_path)
    assert {"depth_anything", "depth_anything_v2"} <= set(reg.module_list(alias_names=True))
    assert reg.module_detail()["depth_anything"] == {"model_free": False, "sliders": [
        {"name": "Resolution", "value": 512, "min": 64, "max": 2048, "step": 8}]}
    depth = reg.control_types(["control_v11f1p_sd15_depth [cfd03158]"])["Depth"]["module_list"]
    assert "depth_anything" in depth and "depth_anything_v2" in depth


@pytest.mark.parametrize(("module", "filename", "subfolder", "folder"), [
    ("depth_anything", "depth_anything_vitl14.pth", "depth_anything", "depth-anything-large-hf"),
    ("depth_anything_v2", "depth_anything_v2_vitl.pth", "depth_anything_v2", "Depth-Anything-V2-Large-hf"),
])
def test_a_missing_network_names_the_file_the_folder_and_the_alternative(
        tmp_path: Path, module: str, filename: str, subfolder: str, folder: str) -> None:
    with pytest.raises(AnnotatorMissingError) as err:
        PreprocessorRegistry(tmp_path).run(module, _photo())
    text = str(err.value)
    assert f"'{filename}'" in text and str(tmp_path / subfolder) in text and folder in text
    with pytest.raises(ApiError) as api_err:
        detect(ControlNetService([tmp_path], tmp_path),
               DetectBody(controlnet_module=module, controlnet_input_images=[_b64(_photo())]))
    assert api_err.value.status_code == 422 and filename in api_err.value.detail


def _b64(image: np.ndarray) -> str:
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_a_file_of_another_network_is_named(tmp_path: Path) -> None:
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "depth_anything_vitl14.pth")
    with pytest.raises(AnnotatorLoadError, match="depth_anything_vitl14.pth does not hold the network"):
        PreprocessorRegistry(tmp_path).run("depth_anything", _photo(), processor_res=64)
