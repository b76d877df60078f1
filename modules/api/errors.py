"""API errors in A1111's JSON shape, with status codes that say whose fault it was.

Every failure answers `{"error": <exception class>, "detail": <message>, "body": <request body
or "">, "errors": str(e)}` like A1111, so existing clients keep parsing it. Unlike A1111 (which
answers 500 for nearly everything), bad input is a 4xx naming the field and the fix; 5xx is
left for real faults. The handlers turn exceptions into responses, so the server keeps
serving after any error.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from modules.engine.validation import InvalidRequestError
from modules.jobs.progress import JobInterrupted
from modules.jobs.queue import ClientQueueFullError, QueueFullError
from modules.settings.store import SettingsError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An answer the API chose on purpose: a status code and a message for the client."""

    def __init__(self, status_code: int, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.headers = headers


class ErrorBody(BaseModel):
    """Every error answer (A1111's shape)."""

    error: str
    detail: Any = None
    body: Any = None
    errors: str = ""


def _documented(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {400: "Data that cannot be read (e.g. an image that is not one)", 401: "Missing or wrong credentials",
            404: "Not found", 409: "Conflict (e.g. a task id in use, or the job was cancelled)",
            413: "Too large (request body, or an input image over the pixel limit)",
            403: "Not allowed by the server's flags (e.g. --freeze-settings)",
            422: "A field or setting that cannot be used; the detail names it",
            429: "Too many tries or jobs from this client; see Retry-After", 500: "A server fault",
            501: "A feature this server does not have", 503: "Busy or no checkpoint; see Retry-After",
            504: "Timed out"}
    return {code: {"model": ErrorBody, "description": text[code]} for code in codes}


# The answers generation routes can give besides 200 (documented in /openapi.json).
GENERATION_ERRORS = _documented(400, 401, 404, 409, 413, 422, 429, 500, 501, 503, 504)
# Every answer any route may give besides its success (put on whole routers).
ALL_ERRORS = _documented(400, 401, 403, 404, 409, 413, 422, 429, 500, 501, 503, 504)


def not_available(feature: str, hint: str = "") -> ApiError:
    """501 for a feature this version does not have: an honest refusal, never a fake result.
    Worded "<feature>: not available ..." so singular and plural names both read right."""
    text = f"{feature}: not available in this version of the server"
    return ApiError(501, f"{text}; {hint}" if hint else text)


def error_content(e: BaseException, detail: Any, body: Any = "") -> dict[str, Any]:
    """A1111's error body."""
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", errors="replace")
    body = body if body is not None else ""
    return {"error": type(e).__name__, "detail": detail, "body": body, "errors": str(e)}


def scrub(text: Any, roots: list[tuple[str, str]]) -> Any:
    """Server folders in a message replaced by what the user knows them as (`models/...`)."""
    if not isinstance(text, str):
        return text
    for folder, shown in roots:
        if folder in text:
            text = text.replace(folder + "/", f"{shown}/" if shown else "").replace(folder, shown or ".")
    return text


def _respond(e: BaseException, status: int, detail: Any, body: Any = "",
             headers: dict[str, str] | None = None, request: Request | None = None,
             errors: str | None = None) -> JSONResponse:
    content = error_content(e, detail, body)
    if errors is not None:
        content["errors"] = errors
    roots = getattr(request.app.state, "server_roots", []) if request is not None else []
    content["detail"], content["errors"] = scrub(content["detail"], roots), scrub(content["errors"], roots)
    if status in (429, 503) and not headers:
        headers = {"Retry-After": "5"}
    return JSONResponse(_json_safe(jsonable_encoder(content)), status_code=status, headers=headers)


def _json_safe(value: Any) -> Any:
    """The echoed body may hold NaN/Infinity (the very values being refused): as text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def describe_validation_errors(errors: Sequence[Any]) -> str:
    """`steps: Input should be a valid integer (got 'abc')`; one clause per problem."""
    parts = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        where = ".".join(loc) or "body"
        got = err.get("input")
        shown = f" (got {got!r})" if got is not None and not isinstance(got, dict | list) else ""
        if len(shown) > 80:
            shown = shown[:77] + "...)"
        parts.append(f"{where}: {err.get('msg', 'invalid')}{shown}")
    return "; ".join(parts) or "invalid request"


async def _on_validation(request: Request, e: RequestValidationError) -> JSONResponse:
    return _respond(e, 422, describe_validation_errors(e.errors()), getattr(e, "body", ""), request=request)


async def _on_http(request: Request, e: StarletteHTTPException) -> JSONResponse:
    return _respond(e, e.status_code, e.detail, headers=getattr(e, "headers", None), request=request)


async def _on_api_error(request: Request, e: ApiError) -> JSONResponse:
    return _respond(e, e.status_code, e.detail, headers=e.headers, request=request)


def _fixed(status: int) -> Any:
    async def handler(request: Request, e: Exception) -> JSONResponse:
        return _respond(e, status, str(e) or type(e).__name__, request=request)

    return handler


# An absolute path (two or more parts); only the last part is shown of it.
_ABSOLUTE_PATH = re.compile(r"(?:[A-Za-z]:)?[\\/](?:[^\s'\"\\/]+[\\/])+([^\s'\"\\/]*)")


async def _on_unexpected(request: Request, e: Exception) -> JSONResponse:
    """A server fault: the exception's message without any file path and without traceback
    (that goes to the console)."""
    log.exception("API error on %s %s", request.method, request.url.path)
    roots = getattr(request.app.state, "server_roots", [])
    message = _ABSOLUTE_PATH.sub(r"\1", scrub(str(e) or type(e).__name__, roots))
    return _respond(e, 500, message, request=request, errors=message)


def _catch_unexpected(app: FastAPI) -> None:
    """Answer real faults with the JSON 500 here: an exception that reaches Starlette's
    outermost handler also makes uvicorn drop the keep-alive connection, which breaks the
    client's next request."""

    @app.middleware("http")
    async def unexpected_errors(request: Request, call_next: Any) -> Any:
        try:
            return await call_next(request)
        except Exception as e:  # noqa: BLE001 - every fault becomes a JSON 500, the server keeps serving
            return await _on_unexpected(request, e)


def _known_errors() -> list[tuple[type[BaseException], int]]:
    """Exceptions of lower layers that mean "bad request" or "busy", not "server broken"."""
    from modules.runtime import NoCheckpointError

    known: list[tuple[type[BaseException], int]] = [
        (InvalidRequestError, 422), (SettingsError, 422), (QueueFullError, 503), (ClientQueueFullError, 429),
        (NoCheckpointError, 503), (JobInterrupted, 409), (TimeoutError, 504), (LookupError, 404)]
    from modules.engine.unet_call import FeatureError
    from modules.face_restoration.models import FaceRestorationError
    from modules.images.codec import InputImageTooLargeError
    from modules.infotext import InfotextTooLongError
    from modules.models.cache import ModelLoadError
    from modules.models.safe_unpickle import UnsafeCheckpointError
    from modules.models.state_dict import CheckpointLoadError
    from modules.samplers.registry import UnknownSamplerError
    from modules.storage.output_folders import OutsideDataFolderError
    from modules.styles import UnknownStyleError
    from modules.text.prompt_limits import PromptTooLongError
    from modules.upscalers.catalog import UnknownUpscalerError

    known += [(UnknownSamplerError, 422), (UnknownStyleError, 422), (InfotextTooLongError, 422),
              (PromptTooLongError, 422), (OutsideDataFolderError, 422), (InputImageTooLargeError, 413),
              (ModelLoadError, 422), (CheckpointLoadError, 422), (UnsafeCheckpointError, 422),
              (UnknownUpscalerError, 422), (FaceRestorationError, 422), (FeatureError, 422)]
    return known


def register_error_handlers(app: FastAPI) -> None:
    """Install the handlers on the app (idempotent: both API registrars call it)."""
    if getattr(app.state, "api_error_handlers", False):
        return
    app.state.api_error_handlers = True
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(ApiError, _on_api_error)
    for exc_type, status in _known_errors():
        app.add_exception_handler(exc_type, _fixed(status))
    for bug in (KeyError, IndexError):  # LookupErrors that mean a bug, not "not found"
        app.add_exception_handler(bug, _on_unexpected)
    app.add_exception_handler(Exception, _on_unexpected)
    _catch_unexpected(app)
