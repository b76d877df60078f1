"""The web server: one FastAPI app carrying the Gradio UI, the A1111 API and internal routes.

`--nowebui` serves only the API (port 7861 by default, as A1111). The UI and API layers
are imported here lazily so `--nowebui` never pays for importing gradio.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import FastAPI

from modules.runtime import Runtime

log = logging.getLogger(__name__)


class ProcessTimeMiddleware:
    """Adds `X-Process-Time` (seconds) to every HTTP response, as A1111 does.

    Pure ASGI rather than `@app.middleware("http")`: the page loads ~100 asset files and the
    BaseHTTPMiddleware wrapper costs milliseconds on each of them.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()

        async def timed_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-process-time", f"{time.perf_counter() - start:.4f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, timed_send)


def _add_process_time(app: FastAPI) -> None:
    app.add_middleware(ProcessTimeMiddleware)


def _add_cors(app: FastAPI, runtime: Runtime) -> None:
    origins, regex = runtime.args.cors_allow_origins, runtime.args.cors_allow_origins_regex
    if not origins and not regex:
        return
    from fastapi.middleware.cors import CORSMiddleware

    app.add_middleware(CORSMiddleware, allow_origins=origins.split(",") if origins else [],
                       allow_origin_regex=regex, allow_methods=["*"], allow_credentials=True, allow_headers=["*"])


def create_app(runtime: Runtime) -> FastAPI:
    """Build the ASGI app for the flags in `runtime.args`."""
    args = runtime.args
    app = FastAPI(title="Stable Diffusion web UI API", version=runtime.version,
                  root_path=args.subpath or "")
    if not args.nowebui:
        from modules.ui.frontend_assets import FrontendAssetMiddleware

        app.add_middleware(FrontendAssetMiddleware)  # inside the timing middleware added next
    _add_process_time(app)
    _add_cors(app, runtime)
    from modules.api.internal import register_internal_routes

    register_internal_routes(app, runtime)
    host = _extensions(runtime)
    if args.api or args.nowebui:
        from modules.api.routes import register_api

        register_api(app, runtime)
    host.call("app_started", None, app)  # before the UI mounts at "/": extension routes stay reachable
    if not args.nowebui:
        from modules.ui.mount import mount_ui

        app = mount_ui(app, runtime)
    return app


def _extensions(runtime: Runtime) -> Any:
    """Load the extensions once per Runtime (an `ExtensionHost` on `runtime.extensions`)."""
    from modules.extensions.host import load_extensions

    host = runtime.extensions or load_extensions(runtime)
    if host.entries and host.ui_inspector is None:
        from modules.ui.extension_scripts import inspect_args

        host.ui_inspector = inspect_args
    return host


def serve(runtime: Runtime) -> None:
    """Run uvicorn in the foreground until Ctrl+C or a server-stop request."""
    import uvicorn

    from modules.cmd_args import server_host

    args = runtime.args
    app = create_app(runtime)
    host = server_host(args)
    shown = "127.0.0.1" if host == "0.0.0.0" else host
    print(f"Running on local URL:  http://{shown}:{args.port}", flush=True)
    if args.autolaunch and not args.nowebui:
        import webbrowser

        webbrowser.open(f"http://{shown}:{args.port}")
    uvicorn.run(app, host=host, port=args.port, timeout_keep_alive=args.timeout_keep_alive,
                ssl_keyfile=args.tls_keyfile, ssl_certfile=args.tls_certfile, log_level="warning")
