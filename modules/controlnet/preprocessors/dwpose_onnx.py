"""DWPose's two ONNX networks run with onnxruntime: YOLOX-L person detection, then RTMPose
(DWPose-L, COCO-WholeBody, 133 keypoints) with SimCC decoding on each person's crop.

Written here from the published algorithms (YOLOX's grid decoding and NMS; RTMPose's top-down
affine crop and SimCC arg-max decoding) because controlnet-aux's DWPose needs mmpose, mmdet and
mmcv. The files are the extension's `yolox_l.onnx` and `dw-ll_ucoco_384.onnx`; their input sizes
are read from the files (640x640 and 288x384 for the released ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from modules.controlnet.preprocessors.annotators import AnnotatorLoadError

_STRIDES = (8, 16, 32)  # YOLOX's three output levels
_LETTERBOX_FILL = 114  # YOLOX pads the resized image with this grey
_NMS_IOU = 0.45
_DET_MIN_SCORE = 0.1  # candidates kept for NMS
_PERSON_MIN_SCORE = 0.3  # boxes handed to the pose network
_BOX_PADDING = 1.25  # RTMPose enlarges each box by this before cropping
_SIMCC_SPLIT = 2.0  # SimCC bins per input pixel
_MEAN = np.array([123.675, 116.28, 103.53], np.float32)
_STD = np.array([58.395, 57.12, 57.375], np.float32)


class OnnxFileError(AnnotatorLoadError):
    """An .onnx file that is not the network it should be (the message names the file)."""


def open_session(path: Path) -> Any:
    """An onnxruntime CPU session for `path` (imported late: the app starts without onnxruntime)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types for unreadable files
        raise OnnxFileError(f"The annotator file {path} is not a readable ONNX network ({err}); "
                            "replace it with the extension's file of that name") from err


def _input_hw(session: Any, path: Path, default: tuple[int, int]) -> tuple[int, int]:
    shape = session.get_inputs()[0].shape
    if len(shape) != 4 or shape[1] not in (3, "3"):
        raise OnnxFileError(f"The annotator file {path} does not take an RGB image (its input is {shape}); "
                            "replace it with the extension's file of that name")
    h, w = shape[2], shape[3]
    return (h, w) if isinstance(h, int) and isinstance(w, int) else default


@dataclass
class PersonDetector:
    """YOLOX: letterboxed BGR image in, (1, anchors, 5 + classes) out; anchors decoded on the grid."""

    session: Any
    size: tuple[int, int]  # (h, w) of the network input

    @classmethod
    def load(cls, path: Path) -> PersonDetector:
        session = open_session(path)
        if len(session.get_outputs()) != 1:
            raise OnnxFileError(f"The annotator file {path} is not a YOLOX detector (it has "
                                f"{len(session.get_outputs())} outputs, YOLOX has one)")
        return cls(session, _input_hw(session, path, (640, 640)))

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        """Person boxes (n, 4) as x0, y0, x1, y1 in the image's pixels, best first."""
        ratio = min(self.size[0] / bgr.shape[0], self.size[1] / bgr.shape[1])
        resized = cv2.resize(bgr, (int(bgr.shape[1] * ratio), int(bgr.shape[0] * ratio)),
                             interpolation=cv2.INTER_LINEAR)
        canvas = np.full((*self.size, 3), _LETTERBOX_FILL, np.uint8)
        canvas[:resized.shape[0], :resized.shape[1]] = resized
        batch = np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], dtype=np.float32)
        raw = self.session.run(None, {self.session.get_inputs()[0].name: batch})[0][0]
        boxes, scores = self._decode(raw)
        return boxes_for_people(boxes / ratio, scores)

    def _decode(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Anchor offsets -> boxes (xyxy, network pixels); objectness x class-0 ("person") score."""
        grids, strides = [], []
        for stride in _STRIDES:
            gh, gw = self.size[0] // stride, self.size[1] // stride
            ys, xs = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
            grids.append(np.stack([xs, ys], -1).reshape(-1, 2))
            strides.append(np.full((gh * gw, 1), stride))
        grid, stride = np.concatenate(grids), np.concatenate(strides)
        if raw.ndim != 2 or raw.shape[0] != len(grid) or raw.shape[1] < 6:
            raise OnnxFileError(f"The person detector answered {raw.shape}, not ({len(grid)}, 5 + classes): "
                                "its file is not a YOLOX network for its input size")
        centre = (raw[:, :2] + grid) * stride
        half = np.exp(np.minimum(raw[:, 2:4], 20.0)) * stride / 2
        return np.concatenate([centre - half, centre + half], 1), raw[:, 4] * raw[:, 5]


def boxes_for_people(boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Candidates above 0.1, greedy NMS at IoU 0.45, then the boxes scoring above 0.3."""
    keep = scores > _DET_MIN_SCORE
    boxes, scores = boxes[keep], scores[keep]
    order = list(np.argsort(-scores, kind="stable"))
    chosen: list[int] = []
    while order:
        best, order = order[0], order[1:]
        chosen.append(best)
        order = [i for i in order if _iou(boxes[best], boxes[i]) <= _NMS_IOU]
    return np.array([boxes[i] for i in chosen if scores[i] > _PERSON_MIN_SCORE], np.float32).reshape(-1, 4)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


@dataclass
class WholeBodyPose:
    """RTMPose: a normalised crop around one box in, SimCC x/y distributions per keypoint out."""

    session: Any
    size: tuple[int, int]  # (h, w) of the network input

    @classmethod
    def load(cls, path: Path) -> WholeBodyPose:
        session = open_session(path)
        if len(session.get_outputs()) != 2:
            raise OnnxFileError(f"The annotator file {path} is not an RTMPose network (it has "
                                f"{len(session.get_outputs())} outputs; RTMPose has simcc_x and simcc_y)")
        return cls(session, _input_hw(session, path, (384, 288)))

    def __call__(self, bgr: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints (K, 2) in image pixels and their scores (K,) for the person in `box`."""
        centre, scale = crop_window(box, self.size)
        crop = cv2.warpAffine(bgr, crop_matrix(centre, scale, self.size), (self.size[1], self.size[0]),
                              flags=cv2.INTER_LINEAR)
        batch = ((crop.astype(np.float32) - _MEAN) / _STD).transpose(2, 0, 1)[None]
        simcc_x, simcc_y = self.session.run(None, {self.session.get_inputs()[0].name: batch})
        points, scores = simcc_maximum(simcc_x[0], simcc_y[0])
        in_crop = points / _SIMCC_SPLIT
        size_wh = np.array([self.size[1], self.size[0]], np.float32)
        return in_crop / size_wh * scale + centre - scale / 2, scores


def crop_window(box: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The box's centre and its padded size, widened or heightened to the network's aspect."""
    x0, y0, x1, y1 = (float(v) for v in box[:4])
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2], np.float32)
    w, h = (x1 - x0) * _BOX_PADDING, (y1 - y0) * _BOX_PADDING
    aspect = size[1] / size[0]
    w, h = (w, w / aspect) if w > h * aspect else (h * aspect, h)
    return centre, np.array([w, h], np.float32)


def crop_matrix(centre: np.ndarray, scale: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The affine map taking the window (centre, scale) onto the network input (no rotation)."""
    s = size[1] / scale[0]
    return np.array([[s, 0, size[1] / 2 - s * centre[0]], [0, s, size[0] / 2 - s * centre[1]]], np.float32)


def simcc_maximum(simcc_x: np.ndarray, simcc_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per keypoint the arg-max bins (x, y) and the smaller of the two peaks as its score; a
    keypoint whose score is not positive gets the location -1."""
    points = np.stack([simcc_x.argmax(-1), simcc_y.argmax(-1)], -1).astype(np.float32)
    scores = np.minimum(simcc_x.max(-1), simcc_y.max(-1)).astype(np.float32)
    points[scores <= 0] = -1
    return points, scores
