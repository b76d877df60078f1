"""DWPose (`dw_openpose_full`, the extension's default pose preprocessor): whole-body keypoints
(body, feet, face, hands) from the extension's two ONNX files, drawn and answered as OpenPose.

The 133 COCO-WholeBody keypoints become the OpenPose layout the openpose modules produce: 18 body
points (a neck made from the shoulders, COCO order remapped to OpenPose's), 21 points per hand, and
70 face points (DWPose's 68 plus the two eyes of the body). A point scoring under 0.3 is missing.
Drawing and the keypoint JSON are shared with openpose.py, so `/controlnet/detect` answers `poses`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from modules.controlnet.preprocessors.annotators import Annotator, AnnotatorStore
from modules.controlnet.preprocessors.dwpose_onnx import PersonDetector, WholeBodyPose
from modules.controlnet.preprocessors.image_ops import hwc3
from modules.controlnet.preprocessors.openpose import poses_json
from modules.controlnet.preprocessors.pose_drawing import draw_poses
from modules.controlnet.preprocessors.spec import Detected, Preprocessor, ProcessorCall

DET_FILE = "yolox_l.onnx"
POSE_FILE = "dw-ll_ucoco_384.onnx"
_VISIBLE = 0.3
_NECK = -1  # stands for the neck, the midpoint of the shoulders (COCO 5 and 6)
# OpenPose body point i is COCO-WholeBody point OPENPOSE_FROM_COCO[i].
OPENPOSE_FROM_COCO = (0, _NECK, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)
FACE = slice(23, 91)
LEFT_HAND = slice(91, 112)
RIGHT_HAND = slice(112, 133)


def _not_pickled(_: Any) -> Any:
    raise TypeError("DWPose's files are ONNX networks, loaded by dwpose.py")


DWPOSE = Annotator("openpose", DET_FILE, _not_pickled, (POSE_FILE,))


@dataclass
class DWPose:
    """The two networks: people are found first, then each one's keypoints in its box (the
    whole image when no one is found, as DWPose does)."""

    detector: PersonDetector
    pose: WholeBodyPose

    def keypoints(self, rgb: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        bgr = np.ascontiguousarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        boxes = self.detector(bgr)
        if len(boxes) == 0:
            boxes = np.array([[0, 0, bgr.shape[1], bgr.shape[0]]], np.float32)
        return [self.pose(bgr, box) for box in boxes]


def _point(xy: np.ndarray, score: float, width: int, height: int) -> Any:
    from controlnet_aux.open_pose import Keypoint

    if score < _VISIBLE or xy[0] < 0 or xy[1] < 0:
        return None
    return Keypoint(float(xy[0]) / width, float(xy[1]) / height)


def _part(points: np.ndarray, scores: np.ndarray, width: int, height: int) -> list[Any] | None:
    found = [_point(p, s, width, height) for p, s in zip(points, scores, strict=True)]
    return found if any(k is not None for k in found) else None


def to_pose_result(points: np.ndarray, scores: np.ndarray, width: int, height: int) -> Any:
    """One person's 133 whole-body keypoints (pixels) -> controlnet-aux's PoseResult (relative)."""
    from controlnet_aux.open_pose import BodyResult, PoseResult

    neck = points[[5, 6]].mean(0)
    neck_score = 1.0 if min(scores[5], scores[6]) >= _VISIBLE else 0.0
    body_xy = np.array([neck if i == _NECK else points[i] for i in OPENPOSE_FROM_COCO])
    body_scores = np.array([neck_score if i == _NECK else scores[i] for i in OPENPOSE_FROM_COCO])
    body = [_point(p, s, width, height) for p, s in zip(body_xy, body_scores, strict=True)]
    face = _part(points[FACE], scores[FACE], width, height)
    if face is not None:
        face += [body[14], body[15]]  # OpenPose's face has the eyes as its points 68 and 69
    total = float(sum(s for s, k in zip(body_scores, body, strict=True) if k is not None))
    return PoseResult(BodyResult(body, total, len(body)), _part(points[LEFT_HAND], scores[LEFT_HAND], width, height),
                      _part(points[RIGHT_HAND], scores[RIGHT_HAND], width, height), face)


def _load(store: AnnotatorStore) -> DWPose:
    det_path, pose_path = store.locate(DWPOSE, DET_FILE), store.locate(DWPOSE, POSE_FILE)
    return store.cached(f"dwpose|{det_path}|{pose_path}",
                        lambda: DWPose(PersonDetector.load(det_path), WholeBodyPose.load(pose_path)))


def _runner(store: AnnotatorStore) -> Callable[[np.ndarray, ProcessorCall], Detected]:
    def run(image: np.ndarray, call: ProcessorCall) -> Detected:
        model = _load(store)  # first: a missing file is named before anything runs
        h, w = image.shape[:2]
        poses = [to_pose_result(p, s, w, h) for p, s in model.keypoints(np.ascontiguousarray(image))]
        canvas = draw_poses(poses, h, w)
        return Detected(hwc3(np.asarray(canvas)), poses_json(poses, h, w))
    return run


def dwpose_preprocessors(store: AnnotatorStore) -> list[Preprocessor]:
    return [Preprocessor("dw_openpose_full", _runner(store), ("OpenPose",), annotator_files=DWPOSE.files)]
