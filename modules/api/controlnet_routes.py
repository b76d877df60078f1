"""The sd-webui-controlnet extension's API (`/controlnet/*`), answered by the built-in ControlNet.

Shapes and error codes follow the extension (API version 3): lists of models and preprocessors,
control types, settings, and `detect`, which runs a preprocessor on images. Bad input is 422 with a
message naming the problem ("Module not available", "No image selected", ...). `detect` also takes
the extension's `controlnet_masks` (inpaint preprocessors need one per image) and `low_vram`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from PIL import Image
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from modules.api.errors import ApiError
from modules.controlnet.preprocessors.annotators import AnnotatorLoadError, AnnotatorMissingError
from modules.controlnet.preprocessors.unsupported import unsupported_reason
from modules.controlnet.service import API_VERSION, ControlNetService
from modules.controlnet.unit_masks import first_channel, is_inpaint_module, visible_inpaint_map
from modules.images.codec import decode_image_b64, encode_image_bytes
from modules.runtime import Runtime


class DetectBody(BaseModel):
    controlnet_module: str = "none"
    controlnet_input_images: list[str] = Field(default_factory=list)
    controlnet_masks: list[str] = Field(default_factory=list)
    controlnet_processor_res: int = -1
    controlnet_threshold_a: float = -1
    controlnet_threshold_b: float = -1
    low_vram: bool = False


def _b64_png(array: Any) -> str:
    import base64

    return base64.b64encode(encode_image_bytes(Image.fromarray(array), "png")).decode()


def _decode_all(texts: list[str], field: str) -> list[Any]:
    images = []
    for i, text in enumerate(texts):
        try:
            images.append(decode_image_b64(text))
        except ValueError as err:
            raise ApiError(422, f"{field}[{i}]: {err}") from err
    return images


def _inpaint_masks(body: DetectBody, canonical: str, images: list[Any]) -> list[Any]:
    """One (H, W) mask per image for inpaint preprocessors, which need them (as in the extension);
    other preprocessors ignore `controlnet_masks`."""
    if not is_inpaint_module(canonical):
        return [None] * len(images)
    if len(body.controlnet_masks) != len(images):
        raise ApiError(422, f"Preprocessor {body.controlnet_module} requires `controlnet_masks` param: one mask "
                            f"per image (white = the area to repaint); got {len(body.controlnet_masks)} for "
                            f"{len(images)} images")
    masks = _decode_all(body.controlnet_masks, "controlnet_masks")
    return [first_channel(m.resize(im.size, Image.NEAREST) if m.size != im.size else m)
            for m, im in zip(masks, images, strict=True)]


def detect(service: ControlNetService, body: DetectBody) -> dict[str, Any]:
    """Run one preprocessor over every input image; OpenPose modules also answer the keypoints
    (`poses`, one OpenPose JSON dict per image), as the extension does. Inpaint preprocessors take
    `controlnet_masks` and answer the picture with the area to repaint half transparent (the
    extension's inpaint map); `low_vram` releases the annotator networks after the call."""
    canonical = service.preprocessors.canonical(body.controlnet_module)
    if canonical is None:
        reason = unsupported_reason(body.controlnet_module)
        raise ApiError(422, f"Module not available: {reason}" if reason else
                       f"Module not available: {body.controlnet_module!r}; "
                       "GET /controlnet/module_list lists the preprocessors")
    if not body.controlnet_input_images:
        raise ApiError(422, "No image selected: send base64 images in controlnet_input_images")
    images = _decode_all(body.controlnet_input_images, "controlnet_input_images")
    masks = _inpaint_masks(body, canonical, images)
    out, poses = [], []
    try:
        for image, mask in zip(images, masks, strict=True):
            try:
                detected, _ = service.preprocessors.run_detected(
                    body.controlnet_module, image, body.controlnet_processor_res,
                    body.controlnet_threshold_a, body.controlnet_threshold_b, mask=mask)
            except AnnotatorMissingError as err:
                raise ApiError(422, str(err)) from err
            except AnnotatorLoadError as err:
                raise ApiError(500, str(err)) from err
            shown = detected.image if mask is None else visible_inpaint_map(detected.image, mask)
            out.append(_b64_png(shown))
            if detected.pose is not None:
                poses.append(detected.pose)
    finally:
        if body.low_vram:  # annotators run on the CPU here: Low VRAM frees them (they reload on next use)
            service.unload_annotators()
    return {"info": "Success", **({"poses": poses} if poses else {}), "images": out}


def controlnet_router(runtime: Runtime, service: ControlNetService) -> APIRouter:
    router = APIRouter(prefix="/controlnet", tags=["controlnet"])

    @router.get("/version")
    def version() -> dict[str, int]:
        return {"version": API_VERSION}

    @router.get("/model_list")
    def model_list(update: bool = True) -> dict[str, list[str]]:
        return {"model_list": service.model_titles(refresh=update)}

    @router.get("/module_list")
    def module_list(alias_names: bool = False) -> dict[str, Any]:
        reg = service.preprocessors
        return {"module_list": reg.module_list(alias_names), "module_detail": reg.module_detail(alias_names)}

    @router.get("/control_types")
    def control_types() -> dict[str, Any]:
        return {"control_types": service.preprocessors.control_types(service.model_titles()[1:])}

    @router.get("/settings")
    def settings() -> dict[str, int]:
        return {"control_net_unit_count": int(runtime.settings.get("control_net_unit_count", 3))}

    @router.post("/detect")
    async def detect_route(body: DetectBody) -> dict[str, Any]:
        return await run_in_threadpool(detect, service, body)

    return router
