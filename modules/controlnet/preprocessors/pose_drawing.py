"""Drawing OpenPose results (body, hands, face) the way the extension's maps look.

The body is drawn by controlnet-aux's `draw_bodypose`. Hands and face are drawn here: controlnet-aux's
versions import matplotlib (not a dependency of the app) only for a colour conversion, and fail on
a missing point inside a hand or face, which DWPose produces (a point under its score threshold).
Same look: hand bones coloured around the hue circle (2 px), red hand joints (radius 4), white face
points (radius 3); points within 1% of the top or left border are not drawn, as there.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

_HAND_BONES = ((0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10), (10, 11),
               (11, 12), (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19), (19, 20))
_EPS = 0.01


def _pixel(point: Any, w: int, h: int) -> tuple[int, int] | None:
    """A relative keypoint -> canvas pixel; None for a missing point or one on the top/left border."""
    if point is None:
        return None
    x, y = int(point.x * w), int(point.y * h)
    return (x, y) if x > _EPS and y > _EPS else None


def draw_hand(canvas: np.ndarray, points: Sequence[Any] | None) -> None:
    if not points:
        return
    h, w = canvas.shape[:2]
    pixels = [_pixel(p, w, h) for p in points]
    for i, (a, b) in enumerate(_HAND_BONES):
        if pixels[a] is not None and pixels[b] is not None:
            colour = [round(c * 255) for c in colorsys.hsv_to_rgb(i / len(_HAND_BONES), 1.0, 1.0)]
            cv2.line(canvas, pixels[a], pixels[b], colour, thickness=2)
    for pixel in pixels:
        if pixel is not None:
            cv2.circle(canvas, pixel, 4, (0, 0, 255), thickness=-1)


def draw_face(canvas: np.ndarray, points: Sequence[Any] | None) -> None:
    h, w = canvas.shape[:2]
    for pixel in (_pixel(p, w, h) for p in points or ()):
        if pixel is not None:
            cv2.circle(canvas, pixel, 3, (255, 255, 255), thickness=-1)


def draw_poses(poses: Sequence[Any], h: int, w: int, body: bool = True, hand: bool = True,
               face: bool = True) -> np.ndarray:
    """controlnet-aux PoseResults (keypoints relative to the canvas) -> an RGB uint8 map."""
    from controlnet_aux.open_pose import util

    canvas = np.zeros((h, w, 3), np.uint8)
    for pose in poses:
        if body:
            canvas = util.draw_bodypose(canvas, pose.body.keypoints)
        if hand:
            draw_hand(canvas, pose.left_hand)
            draw_hand(canvas, pose.right_hand)
        if face:
            draw_face(canvas, pose.face)
    return canvas
