"""Align, restore and paste back each face.

Each face is mapped by a similarity transform from its five landmarks onto the standard
512x512 face frame (the FFHQ alignment the restorers were trained on), restored there, mapped
back and blended in with a mask that is 1 inside the face frame, eroded and blurred at its edge
(feathered), and exactly 0 elsewhere, so every pixel away from the faces keeps its value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

FACE_SIZE = 512
# Where the eyes, nose tip and mouth corners sit in the 512x512 face frame (FFHQ alignment).
FACE_TEMPLATE = np.array([[192.98138, 239.94708], [318.90277, 240.1936], [256.63416, 314.01935],
                          [201.26117, 371.41043], [313.08905, 371.15118]], dtype=np.float32)

RestoreFn = Callable[[np.ndarray], np.ndarray]  # 512x512x3 uint8 RGB -> same


def _feather(mask: np.ndarray, size: int) -> np.ndarray:
    import cv2

    k = max(3, size // 2 * 2 + 1)
    eroded = cv2.erode(mask, np.ones((k, k), np.uint8))
    return cv2.GaussianBlur(eroded, (k, k), 0) * (eroded.max() > 0)


def paste_faces(rgb: np.ndarray, faces: Sequence[np.ndarray], restore: RestoreFn,
                visibility: float = 1.0) -> np.ndarray:
    """`rgb` (HxWx3 uint8) with every face (5x2 landmarks) restored and blended in by `visibility`."""
    import cv2

    out = rgb.astype(np.float32)
    h, w = rgb.shape[:2]
    for landmarks in faces:
        matrix, _ = cv2.estimateAffinePartial2D(landmarks.astype(np.float32), FACE_TEMPLATE, method=cv2.LMEDS)
        if matrix is None:
            continue
        crop = cv2.warpAffine(rgb, matrix, (FACE_SIZE, FACE_SIZE), borderMode=cv2.BORDER_REFLECT101)
        restored = restore(crop)
        inverse = cv2.invertAffineTransform(matrix)
        back = cv2.warpAffine(restored, inverse, (w, h), flags=cv2.INTER_LINEAR).astype(np.float32)
        frame = cv2.warpAffine(np.ones((FACE_SIZE, FACE_SIZE), np.float32), inverse, (w, h), flags=cv2.INTER_NEAREST)
        scale = float(np.sqrt(abs(np.linalg.det(inverse[:, :2]))))
        mask = _feather(frame, int(FACE_SIZE * scale / 16))[..., None] * float(visibility)
        out = out * (1.0 - mask) + back * mask
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _run_model(descriptor: Any, x: Any, weight: float) -> Any:
    """One face crop (1x3x512x512 in [0, 1]) through the restorer, back in [0, 1].

    spandrel's own call normalises RestoreFormer's input but hands GFPGAN and CodeFormer the
    [0, 1] picture, while both were trained on [-1, 1] (as A1111 and facexlib feed them); so those
    two are called directly. CodeFormer's `weight` is its fidelity w (0: strongest restoration,
    1: closest to the input). GFPGAN's StyleGAN noise is the model's stored noise, not fresh
    random noise, so the same picture restores the same way every time.
    """
    arch = descriptor.architecture.id
    if arch == "CodeFormer":
        return (descriptor.model(x * 2 - 1, weight=float(weight))[0] + 1) / 2
    if arch == "GFPGAN":
        return (descriptor.model(x * 2 - 1, return_rgb=False, randomize_noise=False)[0] + 1) / 2
    return descriptor(x)


def descriptor_restore(descriptor: Any, weight: float = 0.5) -> RestoreFn:
    """A RestoreFn running a spandrel face model wherever it sits (CPU or the compute device);
    `weight` is CodeFormer's fidelity (ignored by the other architectures)."""
    import torch

    def run(face: np.ndarray) -> np.ndarray:
        param = next(descriptor.model.parameters())
        x = torch.from_numpy(face).permute(2, 0, 1)[None].to(param.device, param.dtype) / 255.0
        with torch.inference_mode():
            y = _run_model(descriptor, x, weight)
        return (y[0].clamp(0, 1).permute(1, 2, 0).float().cpu().numpy() * 255.0).round().astype(np.uint8)

    return run
