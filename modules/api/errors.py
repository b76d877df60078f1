"""API errors in A1111's JSON shape, with status codes that say whose fault it was.

Every failure answers `{"error": <exception class>, "detail": <message>, "body": <request body
or "">, "errors": str(e)}` like A1111, so existing clients keep parsing it. Unlike A1111 (which
answers 500 for nearly everything), bad input is a 4xx naming the field and the fix; 5xx is
left for real faults. The handlers turn exceptions into responses, so the server keeps
serving after any error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from modules.engine.validation import InvalidRequestError
from modules.jobs.progress import JobInterrupted
from modules.jobs.queue import QueueFullError
from modules.settings.store import SettingsError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An answer the API chose on purpose: a status code and a message for the client."""

    def __init__(self, status_code: int, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.headers = headers


def not_available(feature: str, hint: str = "") -> ApiError:
    """501 for a route whose feature has not landed: an honest refusal, never a fake result."""
    text = f"{feature} is not available in this version of the server"
    return ApiError(501, f"{text}; {hint}" if hint else text)


def error_content(e: BaseException, detail: Any, body: Any = "") -> dict[str, Any]:
    """A1111's error body."""
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", errors="replace")
    body = body if body is not None else ""
    return {"error": type(e).__name__, "detail": detail, "body": body, "errors": str(e)}


def _respond(e: BaseException, status: int, detail: Any, body: Any = "",
             headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(jsonable_encoder(error_content(e, detail, body)), status_code=status, headers=headers)


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
    return _respond(e, 422, describe_validation_errors(e.errors()), getattr(e, "body", ""))


async def _on_http(request: Request, e: StarletteHTTPException) -> JSONResponse:
    return _respond(e, e.status_code, e.detail, headers=getattr(e, "headers", None))


async def _on_api_error(request: Request, e: ApiError) -> JSONResponse:
    return _respond(e, e.status_code, e.detail, headers=e.headers)


def _fixed(status: int) -> Any:
    async def handler(request: Request, e: Exception) -> JSONResponse:
        return _respond(e, status, str(e) or type(e).__name__)

    return handler


async def _on_unexpected(request: Request, e: Exception) -> JSONResponse:
    log.exception("API error on %s %s", request.method, request.url.path)
    return _respond(e, 500, str(e) or type(e).__name__)


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
        (InvalidRequestError, 422), (SettingsError, 422), (QueueFullError, 503),
        (NoCheckpointError, 503), (JobInterrupted, 409), (TimeoutError, 504), (LookupError, 404)]
    from modules.engine.unet_call import FeatureError
    from modules.samplers.registry import UnknownSamplerError
    from modules.styles import UnknownStyleError

    known += [(UnknownSamplerError, 422), (UnknownStyleError, 422), (FeatureError, 422)]
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
