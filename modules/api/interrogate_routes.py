"""Interrogation over HTTP: A1111's `/sdapi/v1/interrogate` and clip-interrogator-ext's `/interrogator/*`.

`/sdapi/v1/interrogate {image, model}`: "clip" -> the classic-mode prompt, "deepdanbooru" -> DeepBooru's
tags with the DeepBooru settings (404 naming model-resnet_custom_v3.pt and its folder when missing).

Request and response shapes are the extension's, so its clients work unchanged:
`GET /interrogator/models` -> ["arch/tag", ...] (installed CLIP models);
`POST /interrogator/prompt {image, clip_model_name, mode[, caption_model_name]}` -> {"prompt"};
`POST /interrogator/analyze {image, clip_model_name[, labels]}` -> five term categories (+ "labels").
Work runs through the job queue, so it never overlaps a generation on the device.
Bad input answers 4xx naming the problem and the choices.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from modules.api.errors import ApiError
from modules.api.models import InterrogateBody
from modules.api.request_mapping import decode_image
from modules.interrogate.folders import ModelNotFoundError
from modules.interrogate.modes import MODES, UnknownModeError
from modules.runtime import Runtime

A1111_MODELS = ("clip", "deepdanbooru")


class PromptBody(BaseModel):
    image: str = ""
    clip_model_name: str = ""
    mode: str = "best"
    caption_model_name: str = ""


class AnalyzeBody(BaseModel):
    image: str = ""
    clip_model_name: str = ""
    labels: list[str] | None = Field(default=None, description="your own labels, ranked by zero-shot CLIP score")


def _model_problem(err: Exception) -> ApiError:
    if isinstance(err, ModelNotFoundError | LookupError):
        return ApiError(404, str(err))
    return ApiError(422, str(err))


def _call(runtime: Runtime, fn: Callable[[Any], Any]) -> Any:
    """Run on the job queue; model and mode problems become 4xx answers."""
    from modules.deepbooru.model_file import DeepBooruLoadError
    from modules.interrogate.caption_loader import CaptionLoadError
    from modules.interrogate.clip_loader import ClipLoadError
    from modules.models.safe_unpickle import UnsafeCheckpointError

    try:
        return runtime.queue.run(lambda _control: fn(runtime.interrogator), kind="interrogate")
    except UnknownModeError as err:
        raise ApiError(422, str(err)) from err
    except (LookupError, ClipLoadError, CaptionLoadError, DeepBooruLoadError, UnsafeCheckpointError) as err:
        raise _model_problem(err) from err


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ApiError(422, f"mode '{mode}' is unknown; use one of: {', '.join(MODES)}")


def sdapi_interrogate_router(runtime: Runtime) -> APIRouter:
    router = APIRouter()

    @router.post("/interrogate", summary="Caption an image (A1111): model 'clip' or 'deepdanbooru' (tags)")
    def interrogate(body: InterrogateBody) -> dict[str, str]:
        image = decode_image(body.image, "image")
        if body.model == "deepdanbooru":
            return {"caption": _call(runtime, lambda svc: svc.deepbooru.tag(image))}
        if body.model not in A1111_MODELS:
            raise ApiError(422, f"model '{body.model}' is unknown; use one of: {', '.join(A1111_MODELS)}")
        return {"caption": _call(runtime, lambda svc: svc.prompt(image, None, "classic", None))}

    return router


def interrogator_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(prefix="/interrogator", tags=["interrogator"])

    @router.get("/models", summary="Installed CLIP models (arch/pretrained)")
    def models() -> list[str]:
        return runtime.interrogator.clip_names()

    @router.post("/prompt", summary="Image to prompt in a mode: " + ", ".join(MODES))
    def prompt(body: PromptBody) -> dict[str, str]:
        _check_mode(body.mode)
        image = decode_image(body.image, "image")
        text = _call(runtime, lambda svc: svc.prompt(image, body.clip_model_name or None, body.mode,
                                                     body.caption_model_name or None))
        return {"prompt": text}

    @router.post("/analyze", summary="Top mediums, artists, movements, trending, flavors (+ your labels)")
    def analyze(body: AnalyzeBody) -> dict[str, dict[str, float]]:
        image = decode_image(body.image, "image")
        return _call(runtime, lambda svc: svc.analyze(image, body.clip_model_name or None, body.labels))

    return router
