"""Mount the A1111-compatible API (/sdapi/v1) and the asynchronous job API (/jobs/v1).

Called by modules/server.py with `--api` or `--nowebui`. `/openapi.json` comes from FastAPI,
`/docs` and `/redoc` from modules/api/docs_routes.py (served offline). `--api-auth` puts HTTP Basic
on every route here; `--api-log` prints one line per API request; `--api-server-stop` adds the
server-stop/restart/kill routes.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request

from modules.api.auth import auth_dependencies
from modules.api.catalog_routes import catalog_router
from modules.api.errors import ALL_ERRORS, register_error_handlers
from modules.api.extension_routes import extension_router
from modules.api.extras_routes import extras_router
from modules.api.generation_routes import generation_router
from modules.api.interrogate_routes import interrogator_router, sdapi_interrogate_router
from modules.api.jobs import jobs_router
from modules.api.network_routes import network_router
from modules.api.server_routes import server_router
from modules.api.settings_routes import settings_router
from modules.api.upscaler_routes import upscaler_router
from modules.runtime import Runtime

API_PREFIX = "/sdapi/v1"
LOGGED_PREFIXES = (API_PREFIX, "/jobs/", "/controlnet/")


def sdapi_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, tags=["sdapi"])
    for part in (generation_router, settings_router, extension_router, network_router, catalog_router,
                 upscaler_router, extras_router, sdapi_interrogate_router):
        router.include_router(part(runtime))
    if runtime.args.api_server_stop:
        router.include_router(server_router(runtime))
    return router


def add_request_log(app: FastAPI) -> None:
    """`--api-log`: one console line per API request, like A1111's."""

    @app.middleware("http")
    async def log_api_request(request: Request, call_next: Any) -> Any:
        start = time.perf_counter()
        response = await call_next(request)
        path = request.url.path
        if path.startswith(LOGGED_PREFIXES):
            client = f"{request.client.host}:{request.client.port}" if request.client else "-"
            print(f"API {datetime.now().isoformat(timespec='seconds')} {response.status_code} "
                  f"{request.method} {path} {client} {time.perf_counter() - start:.3f}s", flush=True)
        return response


def register_api(app: FastAPI, runtime: Runtime) -> None:
    """Add /sdapi/v1/* and /jobs/v1/* to the app."""
    register_error_handlers(app)
    deps = auth_dependencies(runtime.args.api_auth, getattr(app.state, "auth_throttle", None))
    app.include_router(sdapi_router(runtime), dependencies=deps, responses=ALL_ERRORS)
    app.include_router(jobs_router(runtime), dependencies=deps, responses=ALL_ERRORS)
    app.include_router(interrogator_router(runtime), dependencies=deps, responses=ALL_ERRORS)
    if getattr(runtime, "controlnet", None) is not None:
        from modules.api.controlnet_routes import controlnet_router

        app.include_router(controlnet_router(runtime, runtime.controlnet), dependencies=deps, responses=ALL_ERRORS)
    if runtime.args.api_log:
        add_request_log(app)
