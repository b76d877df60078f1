"""/sdapi/v1 routes that make or read pictures: txt2img, img2img, progress, interrupt, skip, png-info."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from modules.api.auth import client_address
from modules.api.body_models import with_body
from modules.api.errors import GENERATION_ERRORS
from modules.api.infotext_fill import parse_infotext
from modules.api.models import (
    GenerationResponse,
    Img2ImgBody,
    PngInfoBody,
    PngInfoResponse,
    ProgressResponse,
    Txt2ImgBody,
    app_bodies,
)
from modules.api.progress_view import sdapi_progress
from modules.api.request_mapping import decode_image, input_limits, prepare
from modules.api.submission import run_generation
from modules.images.pnginfo import read_info_from_image
from modules.runtime import Runtime


def png_info(runtime: Runtime, image_b64: str) -> dict[str, Any]:
    """A1111's png-info: an empty image gives an empty answer; otherwise the parsed infotext."""
    if not image_b64.strip():
        return {"info": "", "items": {}, "parameters": {}}
    image = decode_image(image_b64, "image", input_limits(runtime))
    geninfo, items = read_info_from_image(image)
    geninfo = geninfo or ""
    plain = {k: v if isinstance(v, str | int | float | bool | None) else str(v) for k, v in items.items()}
    parameters = parse_infotext(geninfo, runtime.settings, runtime.styles)
    return {"info": geninfo, "items": plain, "parameters": parameters}


def generation_router(runtime: Runtime) -> APIRouter:
    router = APIRouter()
    txt2img_body, img2img_body = app_bodies(runtime.request_fields.freeze("the API"))

    @router.post("/txt2img", response_model=GenerationResponse, responses=GENERATION_ERRORS)
    @with_body(txt2img_body)
    async def txt2img(body: Txt2ImgBody, request: Request) -> dict[str, Any]:
        """Generate from a prompt; blocks until this request's job has run (FIFO, shared with the UI)."""
        prepared = await run_in_threadpool(prepare, body, runtime, "txt2img")
        return await run_generation(runtime, prepared, client_address(request))

    @router.post("/img2img", response_model=GenerationResponse, responses=GENERATION_ERRORS)
    @with_body(img2img_body)
    async def img2img(body: Img2ImgBody, request: Request) -> dict[str, Any]:
        """Generate from init images (and a mask for inpainting)."""
        prepared = await run_in_threadpool(prepare, body, runtime, "img2img")
        return await run_generation(runtime, prepared, client_address(request))

    @router.get("/progress", response_model=ProgressResponse)
    def progress(skip_current_image: bool = False) -> dict[str, Any]:
        """The running job in A1111's shape; progress 0 and eta 0 when idle."""
        return sdapi_progress(runtime.queue, skip_current_image)

    @router.post("/interrupt")
    def interrupt() -> dict[str, Any]:
        """Stop the running job; the images finished so far are returned to its client."""
        runtime.queue.interrupt_current()
        return {}

    @router.post("/skip")
    def skip() -> None:
        """Abandon the current batch of the running job and go on with the next."""
        runtime.queue.skip_current()

    @router.post("/png-info", response_model=PngInfoResponse)
    def pnginfo(body: PngInfoBody) -> dict[str, Any]:
        """The infotext and other metadata of an image (PNG chunk, EXIF, NovelAI)."""
        return png_info(runtime, body.image)

    return router

