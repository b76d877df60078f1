"""/docs, /redoc and /openapi.json behind `--api-auth` (FastAPI serves them to anyone otherwise).

The API's description lists every route and field; A1111 leaves it open even with API auth.
Here, with `--api-auth`, FastAPI's own doc routes are switched off and these, with the same
credentials check as the API, take their place.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse


def doc_urls(api_auth: str | None) -> dict[str, Any]:
    """FastAPI constructor arguments: no built-in doc routes when auth is on."""
    return {"docs_url": None, "redoc_url": None, "openapi_url": None} if api_auth else {}


def add_protected_docs(app: FastAPI, dependencies: list[Any]) -> None:
    prefix = app.root_path or ""

    @app.get("/openapi.json", include_in_schema=False, dependencies=dependencies)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=dependencies)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=f"{prefix}/openapi.json", title=f"{app.title} - Swagger UI")

    @app.get("/redoc", include_in_schema=False, dependencies=dependencies)
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=f"{prefix}/openapi.json", title=f"{app.title} - ReDoc")
