"""The "Restore faces" step of txt2img/img2img.

A job feature adds `Face restoration: <model>` to the infotext when the request (or the setting
`face_restoration`) asks for it; an `after_image` hook then restores the faces of each picture
with the model named by `face_restoration_model` (CodeFormer with `code_former_weight`), before it is shown and saved.
With `save_images_before_face_restoration` the unrestored picture is saved first, with its infotext
and A1111's "-before-face-restoration" file-name suffix, through the job's own saving path;
`face_restoration_unload` moves the restorer off the compute device after each use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modules.engine.features import Contribution, FeatureSetup, PassContext

BEFORE_SUFFIX = "-before-face-restoration"  # A1111's file-name suffix for the copy before restoration


def wants_restoration(req: Any, settings: Mapping[str, Any]) -> bool:
    """The request's `restore_faces`; None means the setting, as in A1111."""
    value = getattr(req, "restore_faces", None)
    return bool(settings.get("face_restoration", False)) if value is None else bool(value)


def check_restorer_ready(req: Any, settings: Mapping[str, Any], faces: Any) -> None:
    """With restoration asked for, the chosen restorer's file and the face detector must be installed;
    else a FaceRestorationError naming the file and folder (before the job is queued)."""
    from modules.face_restoration.models import FaceRestorationError

    if faces is None or not wants_restoration(req, settings):
        return
    name = str(settings.get("face_restoration_model", "CodeFormer"))
    if name not in faces.folders:
        raise FaceRestorationError(f"face_restoration_model {name!r} is not a face restorer; choose one of "
                                   f"{', '.join(faces.folders)}")
    if faces.restorer_file(name) is None:
        raise FaceRestorationError(f"restore_faces: no {name} model; put one into {faces.folders[name]} "
                                   "or choose another face_restoration_model")
    if faces.detector is None:
        faces.detector_file()


class RestoreFacesFeature:
    name = "Restore faces"

    def contribute(self, setup: FeatureSetup, pass_: PassContext) -> Contribution | None:
        if pass_.index != 0 or not wants_restoration(setup.req, setup.settings):
            return None
        return Contribution(infotext={"Face restoration": setup.settings.get("face_restoration_model", "CodeFormer")})


def register(runtime: Any) -> None:
    from modules.face_restoration.run import restore_faces

    def after_image(payload: Any) -> None:
        settings = runtime.settings.view(payload.req.override_settings)
        if runtime.faces is None or not wants_restoration(payload.req, settings):
            return
        name = str(settings.get("face_restoration_model", "CodeFormer"))
        weight = float(settings.get("code_former_weight", 0.5))
        if settings.get("save_images_before_face_restoration") and payload.save_intermediate is not None:
            payload.save_intermediate(payload.image, BEFORE_SUFFIX)
        payload.image = restore_faces(payload.image, name, runtime.faces, weight=weight,
                                      unload=bool(settings.get("face_restoration_unload", False)))

    runtime.features.register(RestoreFacesFeature())
    runtime.hooks.register("after_image", after_image, owner="face restoration")
