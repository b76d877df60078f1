"""Find faces and their five landmarks (eyes, nose, mouth corners) with OpenCV's YuNet."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class YuNetDetector:
    """cv2.FaceDetectorYN over an `.onnx` file; faces below `min_score` are ignored."""

    def __init__(self, path: Path, min_score: float = 0.7) -> None:
        self.path, self.min_score = path, min_score

    def landmarks(self, rgb: np.ndarray) -> list[np.ndarray]:
        import cv2

        h, w = rgb.shape[:2]
        detector = cv2.FaceDetectorYN.create(str(self.path), "", (w, h), self.min_score)
        _, faces = detector.detect(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        if faces is None:
            return []
        return [np.asarray(face[4:14], dtype=np.float32).reshape(5, 2) for face in faces]
