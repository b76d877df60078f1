"""Weight-needing preprocessors: depth (MiDaS, ZoeDepth, LeReS/LeReS++), normal maps, the OpenPose
family with its keypoint JSON, and the reason the UniFormer/anime-face segmentation modules are absent.

Every test runs with the network blocked (sockets, torch.hub, the Hugging Face hub): the networks
are built from controlnet-aux's classes and read from the annotator folder only. Files are random
weights of the real architectures, written in the extension's layout; the large ones are slow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from modules.api.controlnet_routes import DetectBody, detect
from modules.api.errors import ApiError
from modules.controlnet.preprocessors.annotators import AnnotatorMissingError, AnnotatorStore
from modules.controlnet.preprocessors.registry import PreprocessorRegistry, UnknownPreprocessorError
from modules.controlnet.service import ControlNetService
from modules.images.codec import decode_image_b64
from tests.fixtures.offline import block_network


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    block_network(monkeypatch)


def _photo(h: int = 96, w: int = 136) -> np.ndarray:
    """A smooth image with a bright disc (the maps need some structure, not only noise)."""
    yy, xx = np.mgrid[0:h, 0:w]
    image = np.stack([xx * 255 // w, yy * 255 // h, np.full_like(xx, 90)], axis=2).astype(np.uint8)
    image[(yy - h // 2) ** 2 + (xx - w // 3) ** 2 < (h // 4) ** 2] = 240
    return image


def _half(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """fp16 on disk halves the file the test writes; the loader puts it into the fp32 network."""
    return {k: v.half() if v.is_floating_point() else v for k, v in state.items()}


def _assert_map(out: np.ndarray, shape: tuple[int, int]) -> None:
    assert out.dtype == np.uint8 and out.shape == (*shape, 3)
    assert out.max() > out.min()  # a map, not a blank


# --- names, sliders, control types ---------------------------------------------------------

def test_modules_aliases_sliders_and_control_types(tmp_path: Path) -> None:
    reg = PreprocessorRegistry(tmp_path)
    names, aliases = reg.module_list(), reg.module_list(alias_names=True)
    for name in ("depth", "depth_leres", "depth_leres++", "depth_zoe", "normal_map", "normal_bae",
                 "openpose", "openpose_hand", "openpose_face", "openpose_faceonly", "openpose_full"):
        assert name in names
    assert {"depth_midas", "normal_midas", "depth_zoe", "depth_leres++", "normal_bae"} <= set(aliases)
    assert reg.canonical("depth_midas") == "depth" and reg.canonical("normal_midas") == "normal_map"
    detail = reg.module_detail()
    assert detail["depth"] == {"model_free": False, "sliders": [
        {"name": "Resolution", "value": 512, "min": 64, "max": 2048, "step": 8}]}
    assert [s["name"] for s in detail["depth_leres"]["sliders"]] == ["Resolution", "Remove Near %",
                                                                     "Remove Background %"]
    assert detail["normal_map"]["sliders"][1] == {"name": "Normal Background Threshold", "value": 0.4,
                                                  "min": 0.0, "max": 1.0, "step": 0.01}
    types = reg.control_types(["control_v11f1p_sd15_depth [cfd03158]", "control_v11p_sd15_normalbae [316696f1]",
                               "control_v11p_sd15_seg [e1f51eb9]", "control_v11p_sd15_canny [d14c016b]"])
    assert types["Depth"]["module_list"] == ["none", "depth", "depth_leres", "depth_leres++", "depth_zoe",
                                             "depth_anything", "depth_anything_v2"]
    assert types["Depth"]["default_option"] == "depth"
    assert types["Depth"]["model_list"] == ["None", "control_v11f1p_sd15_depth [cfd03158]"]
    assert types["NormalMap"]["module_list"] == ["none", "normal_map", "normal_bae"]
    assert types["NormalMap"]["default_model"] == "control_v11p_sd15_normalbae [316696f1]"
    assert types["Segmentation"]["model_list"] == ["None", "control_v11p_sd15_seg [e1f51eb9]"]
    assert "openpose_full" in types["OpenPose"]["module_list"]


def test_unsupported_segmentation_modules_give_their_reason(tmp_path: Path) -> None:
    reg = PreprocessorRegistry(tmp_path)
    for name in ("seg_ufade20k", "seg_anime_face"):
        assert reg.canonical(name) is None and name not in reg.module_list(alias_names=True)
        with pytest.raises(UnknownPreprocessorError, match="not built in"):
            reg.get(name)
    service = ControlNetService([tmp_path], tmp_path / "annotator")
    with pytest.raises(ApiError) as err:
        detect(service, DetectBody(controlnet_module="seg_ufade20k", controlnet_input_images=["x"]))
    assert err.value.status_code == 422 and "Module not available" in err.value.detail
    assert "UniFormer" in err.value.detail and "'none'" in err.value.detail


# --- missing files ----------------------------------------------------------------------------

@pytest.mark.parametrize(("module", "present", "missing", "folder"), [
    ("depth_midas", (), "dpt_hybrid-midas-501f0c75.pt", "midas"),
    ("normal_midas", (), "dpt_hybrid-midas-501f0c75.pt", "midas"),
    ("depth_zoe", (), "ZoeD_M12_N.pt", "zoedepth"),
    ("depth_leres", (), "res101.pth", "leres"),
    ("depth_leres++", ("leres/res101.pth",), "latest_net_G.pth", "leres"),
    ("normal_bae", (), "scannet.pt", "normal_bae"),
    ("openpose_face", ("openpose/body_pose_model.pth",), "facenet.pth", "openpose"),
    ("openpose_full", ("openpose/body_pose_model.pth",), "hand_pose_model.pth", "openpose"),
])
def test_a_missing_file_is_named_with_its_folder(tmp_path: Path, module: str, present: tuple[str, ...],
                                                 missing: str, folder: str) -> None:
    annotators = tmp_path / "annotator"
    for rel in present:
        (annotators / rel).parent.mkdir(parents=True, exist_ok=True)
        (annotators / rel).write_bytes(b"not read: the missing file is found first")
    with pytest.raises(AnnotatorMissingError) as err:
        PreprocessorRegistry(annotators).run(module, _photo())
    text = str(err.value)
    assert f"'{missing}'" in text and str(annotators) in text and str(annotators / folder) in text
    service = ControlNetService([tmp_path], annotators)
    body = DetectBody(controlnet_module=module, controlnet_input_images=[_b64(_photo())])
    with pytest.raises(ApiError) as api_err:
        detect(service, body)
    assert api_err.value.status_code == 422 and missing in api_err.value.detail


def _b64(image: np.ndarray) -> str:
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


# --- networks with random weights in the extension's files -----------------------------------

def test_normal_bae_from_scannet_pt(tmp_path: Path) -> None:
    from modules.controlnet.preprocessors.depth_annotators import _normal_bae_network

    torch.manual_seed(0)
    (tmp_path / "normal_bae").mkdir()
    state = {"module." + k: v for k, v in _half(_normal_bae_network().state_dict()).items()}
    torch.save({"model": state}, tmp_path / "normal_bae" / "scannet.pt")
    out, call = PreprocessorRegistry(tmp_path).run("normal_bae", _photo(), processor_res=64)
    _assert_map(out, (64, 91))  # short side = the processor resolution, aspect kept
    assert call.resolution == 64


def test_a_file_of_another_network_is_a_clear_error(tmp_path: Path) -> None:
    from modules.controlnet.preprocessors.annotators import AnnotatorLoadError

    torch.save({"model": {"conv.weight": torch.zeros(1)}}, tmp_path / "scannet.pt")
    with pytest.raises(AnnotatorLoadError, match="scannet.pt does not hold the network"):
        PreprocessorRegistry(tmp_path).run("normal_bae", _photo(), processor_res=64)


@pytest.mark.slow  # writes and reads ~250 MB of random DPT-Hybrid weights (30 s on 2 cores)
def test_midas_depth_and_normal_from_dpt_hybrid(tmp_path: Path) -> None:
    from controlnet_aux.midas.midas.dpt_depth import DPTDepthModel

    torch.manual_seed(0)
    (tmp_path / "midas").mkdir()
    net = DPTDepthModel(path=None, backbone="vitb_rn50_384", non_negative=True)
    torch.save(_half(net.state_dict()), tmp_path / "midas" / "dpt_hybrid-midas-501f0c75.pt")
    reg = PreprocessorRegistry(tmp_path)
    depth, _ = reg.run("depth_midas", _photo(), processor_res=64)
    _assert_map(depth, (64, 91))
    assert depth.min() == 0 and depth.max() == 255 and (depth[..., 0] == depth[..., 1]).all()  # grey, full range
    normal, call = reg.run("normal_midas", _photo(), processor_res=64)
    _assert_map(normal, (64, 91))
    assert call.threshold_a == 0.4 and not (normal[..., 0] == normal[..., 2]).all()  # a colour map


@pytest.mark.slow  # ~230 MB of random ResNeXt-101 weights (13 s)
def test_leres_with_its_thresholds(tmp_path: Path) -> None:
    from controlnet_aux.leres.leres.multi_depth_model_woauxi import RelDepthModel

    torch.manual_seed(0)
    state = {"module." + k: v for k, v in _half(RelDepthModel(backbone="resnext101").state_dict()).items()}
    torch.save({"depth_model": state}, tmp_path / "res101.pth")
    reg = PreprocessorRegistry(tmp_path)
    plain, call = reg.run("depth_leres", _photo(), processor_res=64)
    _assert_map(plain, (64, 91))
    assert (call.threshold_a, call.threshold_b) == (0.0, 0.0)
    near_removed, _ = reg.run("depth_leres", _photo(), processor_res=64, threshold_a=50)
    changed = near_removed != plain
    assert changed.any() and (near_removed[changed] == 255).all()  # the near part is cut to white (after the invert)


@pytest.mark.slow  # ResNeXt-101 + the 1024 px merge U-Net, random weights (41 s)
def test_leres_boost_reads_both_files(tmp_path: Path) -> None:
    from controlnet_aux.leres.leres.multi_depth_model_woauxi import RelDepthModel

    torch.manual_seed(0)
    (tmp_path / "leres").mkdir()
    state = {"module." + k: v for k, v in _half(RelDepthModel(backbone="resnext101").state_dict()).items()}
    torch.save({"depth_model": state}, tmp_path / "leres" / "res101.pth")
    torch.save(_half(_pix2pix_state()), tmp_path / "leres" / "latest_net_G.pth")
    reg = PreprocessorRegistry(tmp_path)
    boosted, _ = reg.run("depth_leres++", _photo(), processor_res=128)  # padded to 192 px: boosting runs
    _assert_map(boosted, (128, 181))
    plain, _ = reg.run("depth_leres", _photo(), processor_res=128)
    assert (boosted != plain).any()  # the merge network changed the map
    small, _ = reg.run("depth_leres++", _photo(), processor_res=64)  # too small to boost: plain LeReS
    assert (small == reg.run("depth_leres", _photo(), processor_res=64)[0]).all()


def _pix2pix_state() -> dict[str, torch.Tensor]:
    from controlnet_aux.leres.pix2pix.models import networks

    return networks.define_G(2, 1, 64, "unet_1024", "none", False, "normal", 0.02, []).state_dict()


@pytest.mark.slow  # ~700 MB of random BEiT-L ZoeDepth weights and a 384x512 forward pass (93 s)
def test_zoe_depth_from_zoed_m12_n(tmp_path: Path) -> None:
    from modules.controlnet.preprocessors.depth_annotators import _zoe_network

    torch.manual_seed(0)
    torch.save({"model": _half(_zoe_network().state_dict())}, tmp_path / "ZoeD_M12_N.pt")
    out, _ = PreprocessorRegistry(tmp_path).run("depth_zoe", _photo(), processor_res=64)
    _assert_map(out, (64, 91))


# --- OpenPose keypoints -----------------------------------------------------------------------

class _FakeBody:
    """Stands in for the body network: one person with three known keypoints (pixel coordinates
    of the image it is given), in the candidate/subset arrays the real estimator returns."""

    def __init__(self) -> None:
        from controlnet_aux.open_pose.body import Body

        self.format_body_result = Body.format_body_result
        self.seen: list[tuple[int, int]] = []

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = image.shape[:2]
        self.seen.append((h, w))
        candidate = np.array([[w * 0.5, h * 0.25, 0.9, 0], [w * 0.5, h * 0.5, 0.9, 1], [w * 0.25, h * 0.5, 0.9, 2]])
        person = np.full(20, -1.0)
        person[:3] = [0, 1, 2]
        person[18:] = [2.7, 3]
        return candidate, person[None]


def test_openpose_detect_returns_poses_in_openpose_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from controlnet_aux.open_pose import OpenposeDetector

    fake = _FakeBody()
    built: list[list[Path]] = []

    def build(annotator: Any, paths: list[Path]) -> Any:
        built.append(paths)
        return OpenposeDetector(fake, None, None)

    monkeypatch.setattr(AnnotatorStore, "_build", staticmethod(build))
    (tmp_path / "openpose").mkdir()
    (tmp_path / "openpose" / "body_pose_model.pth").write_bytes(b"read by the fake builder only")
    service = ControlNetService([tmp_path], tmp_path)
    answer = detect(service, DetectBody(controlnet_module="openpose", controlnet_processor_res=64,
                                        controlnet_input_images=[_b64(_photo()), _b64(_photo(128, 64))]))
    assert built == [[tmp_path / "openpose" / "body_pose_model.pth"]]  # read once, from the extension's layout
    assert fake.seen == [(64, 91), (128, 64)]
    assert [p["canvas_width"] for p in answer["poses"]] == [91, 64]
    assert [p["canvas_height"] for p in answer["poses"]] == [64, 128]
    person = answer["poses"][0]["people"][0]
    keypoints = person["pose_keypoints_2d"]
    assert len(keypoints) == 18 * 3
    assert keypoints[:9] == pytest.approx([0.5, 0.25, 1.0, 0.5, 0.5, 1.0, 0.25, 0.5, 1.0])  # relative, as the extension
    assert keypoints[9:] == [0.0] * 45  # undetected points
    assert person["face_keypoints_2d"] is None and person["hand_left_keypoints_2d"] is None
    drawn = np.asarray(decode_image_b64(answer["images"][0]).convert("RGB"))
    assert drawn.shape == (64, 91, 3)
    assert drawn[16, 45].max() > 0 and drawn[60:, 80:].max() == 0  # the head is drawn, an empty corner stays black
    plain = detect(service, DetectBody(controlnet_module="canny", controlnet_input_images=[_b64(_photo())]))
    assert "poses" not in plain


# ~100 MB of random body weights through the real estimator (5 s on 2 cores)
def test_openpose_from_random_body_weights_answers_the_json_shape(tmp_path: Path) -> None:
    from controlnet_aux.open_pose.body import bodypose_model

    torch.manual_seed(0)
    # The released file names weights without the network's first level (util.transfer adds it back).
    state = {k.split(".", 1)[1]: v for k, v in _half(bodypose_model().state_dict()).items()}
    torch.save(state, tmp_path / "body_pose_model.pth")
    answer = detect(ControlNetService([tmp_path], tmp_path),
                    DetectBody(controlnet_module="openpose", controlnet_processor_res=64,
                               controlnet_input_images=[_b64(_photo())]))
    (pose,) = answer["poses"]
    assert (pose["canvas_width"], pose["canvas_height"]) == (91, 64)
    assert all(len(p["pose_keypoints_2d"]) == 54 for p in pose["people"])
