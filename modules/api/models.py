"""Request and response bodies of the A1111-compatible API (pydantic v2).

Field names, types and API defaults are A1111's (reference §3): `steps=50`, effective sampler
"Euler" through `sampler_index`, `save_images=False`, img2img's `inpainting_fill=0`,
`inpaint_full_res=True`, `inpaint_full_res_padding=0`, so scripts written for A1111 get the
same pictures. Unknown keys are ignored, as A1111's pydantic v1 models did, and an explicit
`null` for a field with a non-null default means "use the default" (A1111 declared every field
Optional, and clients send nulls).
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


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


class GenerationBody(ApiModel):
    """Fields shared by txt2img and img2img (A1111's StableDiffusionProcessing)."""

    prompt: str = ""
    negative_prompt: str = ""
    styles: list[str] | None = None
    seed: int = -1
    subseed: int = -1
    subseed_strength: float = 0.0
    seed_resize_from_h: int = -1
    seed_resize_from_w: int = -1
    sampler_name: str | None = None
    scheduler: str | None = None
    batch_size: int = 1
    n_iter: int = 1
    steps: int = 50
    cfg_scale: float = 7.0
    width: int = 512
    height: int = 512
    restore_faces: bool | None = None
    tiling: bool | None = None
    do_not_save_samples: bool = False
    do_not_save_grid: bool = False
    eta: float | None = None
    denoising_strength: float | None = None
    s_min_uncond: float | None = None
    s_churn: float | None = None
    s_tmax: float | None = None
    s_tmin: float | None = None
    s_noise: float | None = None
    override_settings: dict[str, Any] | None = None
    override_settings_restore_afterwards: bool = True
    refiner_checkpoint: str | None = None
    refiner_switch_at: float | None = None
    disable_extra_networks: bool = False
    firstpass_image: str | None = None
    comments: dict[str, Any] | str | None = None
    force_task_id: str | None = None
    sampler_index: str = Field("Euler", description="deprecated: used only when sampler_name is absent")
    script_name: str | None = None
    script_args: list[Any] = Field(default_factory=list)
    send_images: bool = True
    save_images: bool = False
    alwayson_scripts: dict[str, Any] = Field(default_factory=dict)
    infotext: str | None = Field(None, description="an infotext whose values fill every field not sent")


class Txt2ImgBody(GenerationBody):
    """POST /sdapi/v1/txt2img (A1111's StableDiffusionTxt2ImgProcessingAPI)."""

    enable_hr: bool = False
    firstphase_width: int = 0
    firstphase_height: int = 0
    hr_scale: float = 2.0
    hr_upscaler: str | None = None
    hr_second_pass_steps: int = 0
    hr_resize_x: int = 0
    hr_resize_y: int = 0
    hr_checkpoint_name: str | None = None
    hr_sampler_name: str | None = None
    hr_scheduler: str | None = None
    hr_prompt: str = ""
    hr_negative_prompt: str = ""


class Img2ImgBody(GenerationBody):
    """POST /sdapi/v1/img2img (A1111's StableDiffusionImg2ImgProcessingAPI)."""

    init_images: list[str] | None = Field(None, description="base64 images or data: URIs (required)")
    resize_mode: int = Field(0, ge=0, le=3)
    denoising_strength: float | None = 0.75
    image_cfg_scale: float | None = None
    mask: str | None = None
    mask_blur_x: int = 4
    mask_blur_y: int = 4
    mask_blur: int | None = None
    mask_round: bool = True
    inpainting_fill: int = Field(0, ge=0, le=3)
    inpaint_full_res: bool = True
    inpaint_full_res_padding: int = 0
    inpainting_mask_invert: int = Field(0, ge=0, le=1)
    initial_noise_multiplier: float | None = None
    latent_mask: str | None = None
    include_init_images: bool = False


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
