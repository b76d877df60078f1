"""DWPose (`dw_openpose_full`): the extension's two ONNX files, run offline with onnxruntime.

The files are tiny ONNX networks with the released inputs and outputs (tests/fixtures/tiny_dwpose.py)
whose answers carry planted boxes and SimCC peaks, so the whole decoding path (letterbox, YOLOX grid
decoding, NMS, person filter, RTMPose crop, SimCC arg-max, back to image pixels, OpenPose remapping)
is checked against where the points must land.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from modules.api.controlnet_routes import DetectBody, detect
from modules.api.errors import ApiError
from modules.controlnet.preprocessors.annotators import AnnotatorLoadError, AnnotatorMissingError
from modules.controlnet.preprocessors.dwpose import OPENPOSE_FROM_COCO
from modules.controlnet.preprocessors.registry import PreprocessorRegistry
from modules.controlnet.service import ControlNetService
from modules.images.codec import decode_image_b64
from tests.fixtures import tiny_dwpose as tiny
from tests.fixtures.offline import block_network

H, W = 128, 192  # the test image; letterboxed into 640x640 at ratio 640/192
RATIO = 640 / 192


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    block_network(monkeypatch)


def _photo() -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    return np.stack([xx * 255 // W, yy * 255 // H, np.full_like(xx, 90)], axis=2).astype(np.uint8)


def _b64(image: np.ndarray) -> str:
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


# Planted SimCC peaks: keypoint k at bins (100 + 3k, 200 + 2k); COCO 1 (left eye) and the left hand
# (COCO-WholeBody 91..111) score under 0.3, so they are missing.
BINS_X = 100 + 3 * np.arange(133)
BINS_Y = 200 + 2 * np.arange(133)
PEAKS = np.full(133, 0.9)
PEAKS[1] = 0.2
PEAKS[91:112] = 0.1

# Person A: a stride-32 anchor for the box (48, 16)-(144, 112) of the image, score 0.9 * 0.9;
# a weaker duplicate of it (stride 16, IoU 1) that NMS removes; person B: a small box, score 0.8;
# a 0.2 person (dropped: under 0.3) and a confident non-person (class 1, ignored).
ANCHORS = {
    tiny.anchor_index(32, 10, 6): [0, 2 / 3, math.log(10), math.log(10), 0.9, 0.9],
    tiny.anchor_index(16, 20, 13): [0, 1 / 3, math.log(20), math.log(20), 1.0, 0.5],
    tiny.anchor_index(32, 4, 4): [0, 0, math.log(3), math.log(3), 0.8, 1.0],
    tiny.anchor_index(32, 17, 2): [0, 0, 0, 0, 1.0, 0.2],
    tiny.anchor_index(8, 70, 30): [0, 0, 1, 1, 1.0, 0.0, 0.99],
}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dwpose-annotators")
    tiny.write_detector(folder / "openpose" / "yolox_l.onnx", ANCHORS)
    tiny.write_pose(folder / "openpose" / "dw-ll_ucoco_384.onnx", BINS_X, BINS_Y, PEAKS)
    return folder


def _expected_points(box: tuple[float, float, float, float]) -> np.ndarray:
    """Where the planted peaks land in the image for a person box (RTMPose's crop: the box padded
    by 1.25 and widened to the 288:384 aspect, the 288x384 input spread over it)."""
    x0, y0, x1, y1 = box
    w, h = (x1 - x0) * 1.25, (y1 - y0) * 1.25
    w, h = (w, w / 0.75) if w > h * 0.75 else (h * 0.75, h)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return np.stack([BINS_X / 2 / 288 * w + cx - w / 2, BINS_Y / 2 / 384 * h + cy - h / 2], 1)


def _expected_body(points: np.ndarray) -> list[float]:
    out: list[float] = []
    for coco in OPENPOSE_FROM_COCO:
        visible = coco == -1 or PEAKS[coco] >= 0.3
        x, y = points[[5, 6]].mean(0) if coco == -1 else points[coco]
        out += [x / W, y / H, 1.0] if visible else [0.0, 0.0, 0.0]
    return out


def test_dw_openpose_full_finds_the_planted_people_and_answers_openpose_json(root: Path) -> None:
    service = ControlNetService([root], root)
    answer = detect(service, DetectBody(controlnet_module="dw_openpose_full", controlnet_processor_res=H,
                                        controlnet_input_images=[_b64(_photo())]))
    (pose,) = answer["poses"]
    assert (pose["canvas_width"], pose["canvas_height"]) == (W, H)
    people = pose["people"]
    assert len(people) == 2  # A and B; the duplicate, the weak person and the non-person are gone
    a = people[0]
    points = _expected_points((48, 16, 144, 112))
    assert a["pose_keypoints_2d"] == pytest.approx(_expected_body(points), abs=1e-4)
    assert a["pose_keypoints_2d"][15 * 3:16 * 3] == [0.0, 0.0, 0.0]  # the left eye scored 0.2
    assert a["hand_left_keypoints_2d"] is None  # all its points under 0.3
    right = np.array(a["hand_right_keypoints_2d"]).reshape(21, 3)
    assert right[:, :2] == pytest.approx(points[112:133] / [W, H], abs=1e-4)
    face = np.array(a["face_keypoints_2d"]).reshape(70, 3)
    assert face[:68, :2] == pytest.approx(points[23:91] / [W, H], abs=1e-4)
    assert face[68].tolist() == pytest.approx(a["pose_keypoints_2d"][14 * 3:15 * 3])  # the right eye
    assert face[69].tolist() == [0.0, 0.0, 0.0]  # the (missing) left eye
    b_box = (np.array([128 - 48, 128 - 48, 128 + 48, 128 + 48]) / RATIO).tolist()
    b_nose = _expected_points(tuple(b_box))[0] / [W, H]
    assert people[1]["pose_keypoints_2d"][:2] == pytest.approx(b_nose.tolist(), abs=1e-4)

    drawn = np.asarray(decode_image_b64(answer["images"][0]).convert("RGB"))
    assert drawn.shape == (H, W, 3)
    nose_x, nose_y = (int(v) for v in points[0])
    assert drawn[nose_y, nose_x].max() > 0  # the body is drawn where it was found
    face_x, face_y = (int(v) for v in points[23 + 30])
    assert drawn[face_y, face_x].tolist() == [255, 255, 255]  # face points are white dots
    wrist_x, wrist_y = (int(v) for v in points[112])
    assert drawn[wrist_y, wrist_x].tolist() == [0, 0, 255]  # hand joints are drawn (0, 0, 255)
    assert drawn[100:, 150:].max() == 0  # no person there


def test_without_a_detected_person_the_whole_image_is_the_box(tmp_path: Path) -> None:
    tiny.write_detector(tmp_path / "yolox_l.onnx", {})  # nobody
    tiny.write_pose(tmp_path / "dw-ll_ucoco_384.onnx", BINS_X, BINS_Y, PEAKS)
    detected, call = PreprocessorRegistry(tmp_path).run_detected("dw_openpose_full", _photo(), processor_res=H)
    (person,) = detected.pose["people"]
    points = _expected_points((0, 0, W, H))
    assert points[0, 1] < 0 and person["pose_keypoints_2d"][:3] == [0.0, 0.0, 0.0]  # the nose lands above the image
    wrist = points[112] / [W, H]
    assert person["hand_right_keypoints_2d"][:3] == pytest.approx([*wrist, 1.0], abs=1e-4)
    assert detected.image.shape == (H, W, 3) and call.resolution == H


def test_name_control_type_and_sliders(tmp_path: Path) -> None:
    reg = PreprocessorRegistry(tmp_path)
    assert "dw_openpose_full" in reg.module_list() and "dw_openpose_full" in reg.module_list(alias_names=True)
    assert reg.module_detail()["dw_openpose_full"] == {"model_free": False, "sliders": [
        {"name": "Resolution", "value": 512, "min": 64, "max": 2048, "step": 8}]}
    types = reg.control_types(["control_v11p_sd15_openpose [cab727d4]"])
    assert "dw_openpose_full" in types["OpenPose"]["module_list"]


@pytest.mark.parametrize(("present", "missing"), [((), "yolox_l.onnx"),
                                                  (("openpose/yolox_l.onnx",), "dw-ll_ucoco_384.onnx")])
def test_a_missing_file_is_named_with_its_folder(tmp_path: Path, present: tuple[str, ...], missing: str) -> None:
    for rel in present:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"not read: the missing file is found first")
    with pytest.raises(AnnotatorMissingError) as err:
        PreprocessorRegistry(tmp_path).run("dw_openpose_full", _photo())
    assert f"'{missing}'" in str(err.value) and str(tmp_path / "openpose") in str(err.value)
    with pytest.raises(ApiError) as api_err:
        detect(ControlNetService([tmp_path], tmp_path),
               DetectBody(controlnet_module="dw_openpose_full", controlnet_input_images=[_b64(_photo())]))
    assert api_err.value.status_code == 422 and missing in api_err.value.detail


def test_files_that_are_not_the_networks_are_named(tmp_path: Path, root: Path) -> None:
    (tmp_path / "yolox_l.onnx").write_bytes(b"not an onnx file")
    (tmp_path / "dw-ll_ucoco_384.onnx").write_bytes((root / "openpose" / "dw-ll_ucoco_384.onnx").read_bytes())
    with pytest.raises(AnnotatorLoadError, match="yolox_l.onnx is not a readable ONNX network"):
        PreprocessorRegistry(tmp_path).run("dw_openpose_full", _photo(), processor_res=64)
    (tmp_path / "yolox_l.onnx").write_bytes((root / "openpose" / "dw-ll_ucoco_384.onnx").read_bytes())  # swapped
    with pytest.raises(AnnotatorLoadError, match="yolox_l.onnx is not a YOLOX detector"):
        PreprocessorRegistry(tmp_path).run("dw_openpose_full", _photo(), processor_res=64)
