"""`/docs` (Swagger UI) and `/redoc` (ReDoc) served entirely by this app.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so offline they are blank. The
`fastapi-offline` package (pinned in requirements.txt) ships both bundles; only its static files
are used here, mounted at `/docs-assets`, with ReDoc's Google Fonts, ReDoc's CDN logo and
Swagger UI's online validator turned off, so the pages make no request outside this server.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse, Response

ASSETS_URL = "/docs-assets"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
REDOC_JS = "redoc.standalone.js"
# ReDoc's sidebar shows a logo fetched from its CDN; an inline grey dot of our own takes its place.
REDOC_LOGO_URL = "https://cdn.redoc.ly/redoc/logo-mini.svg"
OFFLINE_LOGO = ("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E"
                "%3Ccircle cx='8' cy='8' r='6' fill='%23999'/%3E%3C/svg%3E")


def docs_assets_dir() -> Path:
    """The folder of swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js and favicon.png."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


def offline_redoc_js() -> bytes:
    """The packaged ReDoc bundle with its one outside URL (the sidebar logo) replaced."""
    code = (docs_assets_dir() / REDOC_JS).read_bytes()
    return code.replace(REDOC_LOGO_URL.encode(), OFFLINE_LOGO.encode())


def register_docs_routes(app: FastAPI, title: str) -> None:
    """Add the two documentation pages; `app` must be built with docs_url=None, redoc_url=None."""
    redoc_js = offline_redoc_js()

    @app.get(f"{ASSETS_URL}/{REDOC_JS}", include_in_schema=False)
    async def redoc_script() -> Response:
        return Response(redoc_js, media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})

    app.mount(ASSETS_URL, StaticFiles(directory=docs_assets_dir()), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{title} - Swagger UI",
            oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT_URL}",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None})

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(openapi_url=f"{root}{app.openapi_url}", title=f"{title} - ReDoc",
                              redoc_js_url=f"{root}{ASSETS_URL}/{REDOC_JS}",
                              redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png", with_google_fonts=False)
