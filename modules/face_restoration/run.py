"""Restore the faces of one picture with a named restorer (what Extras and generation call)."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from modules.face_restoration.detect import YuNetDetector
from modules.face_restoration.models import FaceModels, FaceRestorationError
from modules.face_restoration.paste import descriptor_restore, paste_faces


def restore_faces(image: Image.Image, name: str, models: FaceModels, visibility: float = 1.0,
                  detector: Any = None, restorer: Any = None) -> Image.Image:
    """`image` with its faces restored by `name` ("GFPGAN" or "CodeFormer"), blended by `visibility`.

    `detector` (an object with `landmarks(rgb) -> [5x2 arrays]`) defaults to YuNet from the models
    folder; `restorer` (a loaded spandrel descriptor) defaults to the installed model of `name`.
    """
    if name not in models.folders:
        raise FaceRestorationError(f"unknown face restorer {name!r}; choose one of {', '.join(models.folders)}")
    detector = detector or models.detector or YuNetDetector(models.detector_file())
    restorer = restorer or models.load_restorer(name)
    rgb = np.asarray(image.convert("RGB"))
    faces = detector.landmarks(rgb)
    if not faces:
        return image
    return Image.fromarray(paste_faces(rgb, faces, descriptor_restore(restorer), visibility), "RGB")
