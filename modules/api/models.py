"""Request and response bodies of the A1111-compatible API (pydantic v2).

The generation bodies are built from the field table (`modules/engine/request_fields.py`,
through `modules/api/body_models.py`). Field names, types and API defaults are A1111's
(reference §3): `steps=50`, effective sampler "Euler" through `sampler_index`,
`save_images=False`, img2img's `inpainting_fill=0`, `inpaint_full_res=True`,
`inpaint_full_res_padding=0`, so scripts written for A1111 get the same pictures. Unknown keys
are ignored, as A1111's pydantic v1 models did, and an explicit `null` for a field with a
non-null default means "use the default" (A1111 declared every field Optional, and clients
send nulls).
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from modules.api.body_models import mode_overrides, table_model
from modules.engine.request_fields import REQUEST_FIELDS, RequestField, body_fields


def refuse_non_finite(value: Any, where: str = "body") -> None:
    """NaN and ±Infinity (which Python's JSON reader accepts) are refused everywhere, also
    inside `override_settings` and `script_args`, so none reaches a sampler or config.json."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}: NaN and Infinity are not accepted; send a finite number")
    if isinstance(value, dict):
        for key, item in value.items():
            refuse_non_finite(item, f"{where}.{key}" if where != "body" else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            refuse_non_finite(item, f"{where}[{i}]")


class ApiModel(BaseModel):
    """Base: ignore unknown keys; nulls fall back to defaults."""

    model_config = ConfigDict(extra="ignore", protected_namespaces=(), allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _nulls_mean_default(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        refuse_non_finite(data)
        fields = cls.model_fields
        return {k: v for k, v in data.items()
                if not (v is None and k in fields and fields[k].default is not None)}


TXT2IMG_DOC = "POST /sdapi/v1/txt2img (A1111's StableDiffusionTxt2ImgProcessingAPI)."
IMG2IMG_DOC = "POST /sdapi/v1/img2img (A1111's StableDiffusionImg2ImgProcessingAPI)."


def build_bodies(fields: tuple[RequestField, ...] = REQUEST_FIELDS,
                 ) -> tuple[type[ApiModel], type[ApiModel], type[ApiModel]]:
    """(GenerationBody, Txt2ImgBody, Img2ImgBody): every scalar request parameter comes from the
    field table (`modules/engine/request_fields.py`); the fields below are not parameters in the
    table's sense (images, script payloads, settings, the infotext to paste)."""
    shared_rows = body_fields(None, fields)
    shared: Any = table_model("GenerationFields", ApiModel, shared_rows, None, module=__name__)

    class GenerationBody(shared):  # type: ignore[misc, valid-type]
        """Fields shared by txt2img and img2img (A1111's StableDiffusionProcessing)."""

        override_settings: dict[str, Any] | None = None
        firstpass_image: str | None = None
        comments: dict[str, Any] | str | None = None
        script_args: list[Any] = Field(default_factory=list)
        alwayson_scripts: dict[str, Any] = Field(default_factory=dict)
        infotext: str | None = Field(None, description="an infotext whose values fill every field not sent")

    class Img2ImgImages(GenerationBody):
        """img2img's pictures (A1111's StableDiffusionImg2ImgProcessingAPI)."""

        init_images: list[str] | None = Field(None, description="base64 images or data: URIs (required)")
        mask: str | None = None
        latent_mask: str | None = None

    txt2img = table_model("Txt2ImgBody", GenerationBody, body_fields("txt2img", fields), "txt2img",
                          TXT2IMG_DOC, __name__)
    img2img_rows = mode_overrides(shared_rows, "img2img") + body_fields("img2img", fields)
    img2img = table_model("Img2ImgBody", Img2ImgImages, img2img_rows, "img2img", IMG2IMG_DOC, __name__)
    return GenerationBody, txt2img, img2img


GenerationBody, Txt2ImgBody, Img2ImgBody = build_bodies()


def app_bodies(fields: tuple[RequestField, ...]) -> tuple[type[ApiModel], type[ApiModel]]:
    """(txt2img body, img2img body) of an app whose field table is `fields`: the built-in models
    when no feature added a row, else models built from the app's table (same names in /docs)."""
    if fields == REQUEST_FIELDS:
        return Txt2ImgBody, Img2ImgBody
    _, txt2img, img2img = build_bodies(fields)
    return txt2img, img2img


class GenerationResponse(BaseModel):
    """`{"images": [raw base64], "parameters": request echo, "info": JSON string}`."""

    images: list[str] | None = Field(None, description="raw base64 images (no data: prefix)")
    parameters: dict[str, Any]
    info: str = Field(description="JSON string of the generation info (seeds, infotexts, ...); its "
                                  "`interrupted` is true when the job was interrupted, and `images` then "
                                  "holds only the images finished before the interrupt")



class PngInfoBody(ApiModel):
    image: str = ""


class PngInfoResponse(BaseModel):
    info: str
    items: dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, Any] = Field(default_factory=dict)


class ProgressState(BaseModel):
    skipped: bool = False
    interrupted: bool = False
    stopping_generation: bool = False
    job: str = ""
    job_count: int = 0
    job_timestamp: str = "0"
    job_no: int = 0
    sampling_step: int = 0
    sampling_steps: int = 0


class ProgressResponse(BaseModel):
    """GET /sdapi/v1/progress."""

    progress: float
    eta_relative: float
    state: ProgressState
    current_image: str | None = None
    textinfo: str | None = None
    current_task: str | None = None


class InternalProgressBody(ApiModel):
    """POST /internal/progress (the UI's poll)."""

    id_task: str | None = None
    id_live_preview: int = -1
    live_preview: bool = True


class InternalProgressResponse(BaseModel):
    active: bool
    queued: bool
    completed: bool
    progress: float | None = None
    eta: float | None = None
    live_preview: str | None = None
    id_live_preview: int | None = None
    textinfo: str | None = None


class InterrogateBody(ApiModel):
    image: str = ""
    model: str = "clip"


class JobSubmitted(BaseModel):
    """202 answer of POST /jobs/v1/{txt2img,img2img}."""

    id: str
    status: str
    position: int | None = None


class JobStatus(BaseModel):
    """GET /jobs/v1/{id}."""

    id: str
    kind: str
    status: str = Field(description="queued | running | done | failed | cancelled")
    interrupted: bool = Field(False, description="stopped early (DELETE or interrupt); partial result")
    position: int | None = Field(None, description="1-based place in the queue while queued")
    progress: float = 0.0
    eta: float | None = None
    created_at: float = Field(description="unix time (seconds)")
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    error_type: str | None = None
    result: GenerationResponse | None = None
