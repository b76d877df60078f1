"""Restore the faces of one picture with a named restorer (what Extras and generation call)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from PIL import Image

from modules.face_restoration.detect import YuNetDetector
from modules.face_restoration.models import FaceModels, FaceRestorationError
from modules.face_restoration.paste import descriptor_restore, paste_faces

DEFAULT_CODEFORMER_WEIGHT = 0.5  # A1111's `code_former_weight` default


def restore_faces(image: Image.Image, name: str, models: FaceModels, visibility: float = 1.0,
                  detector: Any = None, restorer: Any = None,
                  weight: float = DEFAULT_CODEFORMER_WEIGHT, unload: bool = False) -> Image.Image:
    """`image` with its faces restored by `name` ("GFPGAN" or "CodeFormer"), blended by `visibility`.

    `detector` (an object with `landmarks(rgb) -> [5x2 arrays]`) defaults to YuNet from the models
    folder; `restorer` (a loaded spandrel descriptor) defaults to the installed model of `name`
    (through the model cache); `weight` is CodeFormer's fidelity (0 = strongest effect); `unload`
    (the setting `face_restoration_unload`) moves the restorer off the compute device afterwards.
    """
    if name not in models.folders:
        raise FaceRestorationError(f"unknown face restorer {name!r}; choose one of {', '.join(models.folders)}")
    if not 0.0 <= weight <= 1.0:
        raise FaceRestorationError(f"CodeFormer weight must be between 0 and 1, got {weight:g}")
    detector = detector or models.detector or YuNetDetector(models.detector_file())
    rgb = np.asarray(image.convert("RGB"))
    with _restorer(models, name, restorer, unload) as loaded:
        faces = detector.landmarks(rgb)
        if not faces:
            return image
        return Image.fromarray(paste_faces(rgb, faces, descriptor_restore(loaded, weight), visibility), "RGB")


@contextmanager
def _restorer(models: FaceModels, name: str, given: Any, unload: bool) -> Iterator[Any]:
    if given is not None:
        yield given
        return
    with models.using(name, unload) as loaded:
        yield loaded
