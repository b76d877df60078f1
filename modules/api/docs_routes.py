"""`/docs` (Swagger UI) and `/redoc` (ReDoc) served entirely by this app, and behind `--api-auth`
together with `/openapi.json` when it is set.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so offline they are blank. The
`fastapi-offline` package (pinned in requirements.txt) ships both bundles; only its static files
are used here, mounted at `/docs-assets`, with ReDoc's Google Fonts, ReDoc's CDN logo and
Swagger UI's online validator turned off, so the pages make no request outside this server.

The API's description lists every route and field; A1111 leaves it open even with API auth.
Here, with `--api-auth`, FastAPI's own `/openapi.json` is switched off and one with the same
credentials check as the API takes its place, as do the two pages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse, Response

OPENAPI_URL = "/openapi.json"
ASSETS_URL = "/docs-assets"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
REDOC_JS = "redoc.standalone.js"
# ReDoc's sidebar shows a logo fetched from its CDN; an inline grey dot of our own takes its place.
REDOC_LOGO_URL = "https://cdn.redoc.ly/redoc/logo-mini.svg"
OFFLINE_LOGO = ("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E"
                "%3Ccircle cx='8' cy='8' r='6' fill='%23999'/%3E%3C/svg%3E")


def doc_urls(api_auth: str | None) -> dict[str, Any]:
    """FastAPI constructor arguments: never its CDN doc pages; no open /openapi.json under auth."""
    urls: dict[str, Any] = {"docs_url": None, "redoc_url": None}
    return {**urls, "openapi_url": None} if api_auth else urls


def docs_assets_dir() -> Path:
    """The folder of swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js and favicon.png."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


def offline_redoc_js() -> bytes:
    """The packaged ReDoc bundle with its one outside URL (the sidebar logo) replaced."""
    code = (docs_assets_dir() / REDOC_JS).read_bytes()
    return code.replace(REDOC_LOGO_URL.encode(), OFFLINE_LOGO.encode())


def _add_assets(app: FastAPI) -> None:
    """The pages' scripts and styles (public: they are the stock Swagger UI / ReDoc files)."""
    redoc_js = offline_redoc_js()

    @app.get(f"{ASSETS_URL}/{REDOC_JS}", include_in_schema=False)
    async def redoc_script() -> Response:
        return Response(redoc_js, media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})

    app.mount(ASSETS_URL, StaticFiles(directory=docs_assets_dir()), name="docs-assets")


def register_docs_routes(app: FastAPI, dependencies: list[Any] | None = None) -> None:
    """Add the two documentation pages (and, with `dependencies`, the protected /openapi.json);
    `app` must be built with `doc_urls(...)`."""
    deps = list(dependencies or [])
    _add_assets(app)
    if deps:
        @app.get(OPENAPI_URL, include_in_schema=False, dependencies=deps)
        def openapi() -> JSONResponse:
            return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=deps)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{OPENAPI_URL}", title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT_URL}",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None})

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False, dependencies=deps)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(openapi_url=f"{root}{OPENAPI_URL}", title=f"{app.title} - ReDoc",
                              redoc_js_url=f"{root}{ASSETS_URL}/{REDOC_JS}",
                              redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png", with_google_fonts=False)
