"""The OpenPose family (body, hands, face) and its keypoint JSON, offline.

The networks are controlnet-aux's (body/hand/face estimators) with weights read here through the
restricted unpickler. Running a pose preprocessor yields the drawn map and the poses in the OpenPose
JSON layout the extension's `/controlnet/detect` returns: `{"people": [{"pose_keypoints_2d",
"face_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d"}], "canvas_width",
"canvas_height"}`, each list flat `x, y, confidence` triples with x and y relative to the canvas
(0..1, as the extension writes them), a missing point `0, 0, 0`, an absent part `null`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from modules.controlnet.preprocessors.annotators import Annotator, AnnotatorStore
from modules.controlnet.preprocessors.image_ops import hwc3
from modules.controlnet.preprocessors.pose_drawing import draw_poses
from modules.controlnet.preprocessors.spec import Detected, Preprocessor, ProcessorCall

BODY_FILE = "body_pose_model.pth"
HAND_FILE = "hand_pose_model.pth"
FACE_FILE = "facenet.pth"


def _body_or_hand(kind: str, state: Any) -> Any:
    """A controlnet-aux Body/Hand estimator around a network loaded here (its own __init__ would
    unpickle the file with a plain torch.load)."""
    from controlnet_aux.open_pose import body, hand, util

    module = body if kind == "body" else hand
    net = (body.bodypose_model if kind == "body" else hand.handpose_model)()
    net.load_state_dict(util.transfer(net, state))
    part = object.__new__(module.Body if kind == "body" else module.Hand)
    part.model = net.float().eval()
    return part


def _face(state: Any) -> Any:
    from controlnet_aux.open_pose import face

    net = face.FaceNet()
    net.load_state_dict(state)
    part = object.__new__(face.Face)
    part.model = net.float().eval()
    part.inference_size = face.params["inference_img_size"]
    part.sigma = face.params["gaussian_sigma"]
    part.threshold = face.params["heatmap_peak_thresh"]
    return part


def _builder(files: Sequence[str]) -> Callable[[Any], Any]:
    """Build an OpenposeDetector from the states of `files` (body first, then hand and/or face)."""
    def build(states: Any) -> Any:
        from controlnet_aux.open_pose import OpenposeDetector

        by_file = dict(zip(files, states if isinstance(states, list) else [states], strict=True))
        hand = _body_or_hand("hand", by_file[HAND_FILE]) if HAND_FILE in by_file else None
        face = _face(by_file[FACE_FILE]) if FACE_FILE in by_file else None
        return OpenposeDetector(_body_or_hand("body", by_file[BODY_FILE]), hand, face)
    return build


def _annotator(*more: str) -> Annotator:
    return Annotator("openpose", BODY_FILE, _builder((BODY_FILE, *more)), more)


OPENPOSE = _annotator()
OPENPOSE_HAND = _annotator(HAND_FILE)
OPENPOSE_FACE = _annotator(FACE_FILE)
OPENPOSE_FULL = _annotator(HAND_FILE, FACE_FILE)


def _flat(points: Sequence[Any] | None) -> list[float] | None:
    if not points:
        return None
    out: list[float] = []
    for p in points:
        out += [float(p.x), float(p.y), 1.0] if p is not None else [0.0, 0.0, 0.0]
    return out


def poses_json(poses: Sequence[Any], height: int, width: int) -> dict[str, Any]:
    """controlnet-aux PoseResults (keypoints relative to the canvas) -> the OpenPose JSON dict."""
    people = [{"pose_keypoints_2d": _flat(p.body.keypoints), "face_keypoints_2d": _flat(p.face),
               "hand_left_keypoints_2d": _flat(p.left_hand), "hand_right_keypoints_2d": _flat(p.right_hand)}
              for p in poses]
    return {"people": people, "canvas_width": int(width), "canvas_height": int(height)}


def _pose_runner(annotator: Annotator, body: bool, hand: bool, face: bool
                 ) -> Callable[[AnnotatorStore], Callable[[np.ndarray, ProcessorCall], Detected]]:
    """Detect on the (resolution-scaled) image as it is and draw on a canvas of the same size."""
    def bind(store: AnnotatorStore) -> Callable[[np.ndarray, ProcessorCall], Detected]:
        def run(image: np.ndarray, call: ProcessorCall) -> Detected:
            detector = store.detector(annotator)  # first: a missing file is named before any import
            h, w = image.shape[:2]
            poses = detector.detect_poses(np.ascontiguousarray(image), include_hand=hand, include_face=face)
            canvas = draw_poses(poses, h, w, body=body, hand=hand, face=face)
            return Detected(hwc3(np.asarray(canvas)), poses_json(poses, h, w))
        return run
    return bind


# (name, annotator, draw/detect body, hands, face), as the extension's openpose modules.
_MODULES = (
    ("openpose", OPENPOSE, True, False, False),
    ("openpose_hand", OPENPOSE_HAND, True, True, False),
    ("openpose_face", OPENPOSE_FACE, True, False, True),
    ("openpose_faceonly", OPENPOSE_FACE, False, False, True),
    ("openpose_full", OPENPOSE_FULL, True, True, True),
)


def openpose_preprocessors(store: AnnotatorStore) -> list[Preprocessor]:
    return [Preprocessor(name, _pose_runner(annotator, body, hand, face)(store), ("OpenPose",),
                         annotator_files=annotator.files)
            for name, annotator, body, hand, face in _MODULES]
