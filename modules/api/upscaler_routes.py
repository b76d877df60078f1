"""/sdapi/v1 lists of upscalers, latent upscale modes, Real-ESRGAN models and face restorers.

Each answers what is installed right now (the folders are rescanned on every call; a file's
description is remembered while it is unchanged). Broken upscaler files are listed with `error`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from modules.runtime import Runtime
from modules.upscalers.catalog import UpscalerCatalog
from modules.upscalers.names import LATENT_MODES


def catalog_of(runtime: Runtime) -> UpscalerCatalog:
    assert runtime.upscalers is not None, "build_runtime creates the upscaler catalog"
    return runtime.upscalers


def upscaler_router(runtime: Runtime) -> APIRouter:
    router = APIRouter()

    @router.get("/upscalers")
    def upscalers() -> list[dict[str, Any]]:
        """None, Lanczos, Nearest and every model file in the upscaler folders (broken ones with `error`)."""
        return [e.api_dict() for e in catalog_of(runtime).list()]

    @router.get("/latent-upscale-modes")
    def latent_upscale_modes() -> list[dict[str, Any]]:
        """The hires-fix modes that resize the latent instead of the image."""
        return [{"name": name} for name in LATENT_MODES]

    @router.get("/realesrgan-models")
    def realesrgan_models() -> list[dict[str, Any]]:
        """The working models found in the Real-ESRGAN folder."""
        return [{"name": e.name, "path": str(e.path), "scale": e.scale}
                for e in catalog_of(runtime).list() if e.kind == "RealESRGAN" and e.error is None]

    @router.get("/face-restorers")
    def face_restorers() -> list[dict[str, Any]]:
        """The face restorers whose folder holds a model file: `[{"name", "cmd_dir"}]`."""
        return runtime.faces.installed() if runtime.faces is not None else []

    return router
