"""/sdapi/v1/extra-single-image and /extra-batch-images: the Extras tab over HTTP (A1111 fields).

Like A1111, the API returns the pictures and does not save them. The job runs through the queue,
so it waits for (and never overlaps) a generation; /sdapi/v1/interrupt stops it between tiles.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from modules.api.errors import ApiError
from modules.api.models import ApiModel
from modules.api.request_mapping import decode_image
from modules.api.responses import encode_image_b64
from modules.api.upscaler_routes import catalog_of
from modules.extras.params import ExtrasInputError, ExtrasParams
from modules.extras.run import ExtrasInput, ExtrasJobResult, run_extras
from modules.runtime import Runtime


class ExtrasBaseRequest(ApiModel):
    resize_mode: int = 0
    show_extras_results: bool = True
    gfpgan_visibility: float = 0.0
    codeformer_visibility: float = 0.0
    codeformer_weight: float = 0.0
    upscaling_resize: float = 2.0
    upscaling_resize_w: int = 512
    upscaling_resize_h: int = 512
    upscaling_crop: bool = True
    upscaler_1: str = "None"
    upscaler_2: str = "None"
    extras_upscaler_2_visibility: float = 0.0
    upscale_first: bool = False

    def params(self) -> ExtrasParams:
        fields = self.model_dump(exclude={"show_extras_results", "image", "imageList"})
        return ExtrasParams(**fields)


class ExtrasSingleImageRequest(ExtrasBaseRequest):
    image: str = ""


class FileData(ApiModel):
    data: str = ""
    name: str = ""


class ExtrasBatchImagesRequest(ExtrasBaseRequest):
    imageList: list[FileData] = []  # noqa: N815 - A1111's field name


def _run(runtime: Runtime, inputs: list[ExtrasInput], body: ExtrasBaseRequest) -> ExtrasJobResult:
    params = body.params()
    catalog = catalog_of(runtime)
    try:
        params.validate()
        for name in (params.upscaler_1, params.upscaler_2):
            if name and name != "None":
                catalog.resolve(name)
    except ExtrasInputError as err:
        raise ApiError(422, str(err)) from err
    settings = runtime.settings.view()
    return runtime.queue.run(lambda control: run_extras(inputs, params, catalog, settings, control,
                                                        faces=runtime.faces), kind="extras")


def extras_router(runtime: Runtime) -> APIRouter:
    router = APIRouter()

    @router.post("/extra-single-image")
    def extra_single_image(body: ExtrasSingleImageRequest) -> dict[str, Any]:
        """Upscale one picture: `{"html_info": <postprocessing infotext>, "image": <base64>}`."""
        if not body.image:
            raise ApiError(422, "image: no picture given; send the picture as base64 in 'image'")
        result = _run(runtime, [ExtrasInput(decode_image(body.image, "image"))], body)
        settings = runtime.settings.view()
        images = [encode_image_b64(o.image, settings) for o in result.outputs] if body.show_extras_results else [""]
        return {"html_info": result.html_info, "image": images[0]}

    @router.post("/extra-batch-images")
    def extra_batch_images(body: ExtrasBatchImagesRequest) -> dict[str, Any]:
        """Upscale several pictures: `{"html_info": ..., "images": [<base64>, ...]}`."""
        if not body.imageList or not any(f.data for f in body.imageList):
            raise ApiError(422, "imageList: no pictures given; send [{\"data\": <base64>, \"name\": ...}, ...]")
        inputs = [ExtrasInput(decode_image(f.data, f"imageList[{i}]"), f.name or None)
                  for i, f in enumerate(body.imageList)]
        result = _run(runtime, inputs, body)
        settings = runtime.settings.view()
        images = [encode_image_b64(o.image, settings) for o in result.outputs] if body.show_extras_results else []
        return {"html_info": result.html_info, "images": images}

    return router
