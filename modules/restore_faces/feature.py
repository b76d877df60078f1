"""The "Restore faces" step of txt2img/img2img.

A job feature adds `Face restoration: <model>` to the infotext when the request (or the setting
`face_restoration`) asks for it; an `after_image` hook then restores the faces of each picture
with the model named by `face_restoration_model` (CodeFormer with `code_former_weight`), before it is shown and saved.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modules.engine.features import Contribution, FeatureSetup, PassContext


def wants_restoration(req: Any, settings: Mapping[str, Any]) -> bool:
    """The request's `restore_faces`; None means the setting, as in A1111."""
    value = getattr(req, "restore_faces", None)
    return bool(settings.get("face_restoration", False)) if value is None else bool(value)


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
        payload.image = restore_faces(payload.image, name, runtime.faces, weight=weight)

    runtime.features.register(RestoreFacesFeature())
    runtime.hooks.register("after_image", after_image, owner="face restoration")
