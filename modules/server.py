"""The web server: one FastAPI app carrying the Gradio UI, the A1111 API and internal routes.

`--nowebui` serves only the API (port 7861 by default, as A1111). The UI and API layers
are imported here lazily so `--nowebui` never pays for importing gradio.
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from typing import Any

from fastapi import FastAPI

from modules.console_log import configure_console_logging
from modules.runtime import Runtime

log = logging.getLogger(__name__)
SHUTDOWN_GRACE_S = 3  # seconds open connections get to finish after SIGTERM


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


def _add_body_limit(app: FastAPI, runtime: Runtime) -> None:
    from modules.api.request_limits import ApiMethodGuard, BodySizeLimitMiddleware

    app.add_middleware(ApiMethodGuard, outer=app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=int(runtime.args.max_request_mb * (1 << 20)))


def server_roots(runtime: Runtime) -> list[tuple[str, str]]:
    """(server folder, what error messages say instead), longest first: answers never show
    where the server keeps its files."""
    import os
    from pathlib import Path

    paths = runtime.paths
    roots = [(paths.data_dir, ""), (paths.models_dir, "models"), (paths.app_root, ""), (Path.home(), "~")]
    inside = (paths.data_dir, paths.models_dir)
    roots += [(d, d.name) for d in (*paths.ckpt_dirs, *paths.vae_dirs)
              if not any(d == r or r in d.parents for r in inside)]
    out = {}
    for folder, shown in roots:
        text = os.path.normpath(str(folder))
        if len(text) > 1:
            out[text] = shown
    return sorted(out.items(), key=lambda item: -len(item[0]))


def create_app(runtime: Runtime) -> FastAPI:
    """Build the ASGI app for the flags in `runtime.args`."""
    args = runtime.args
    from modules.access.auth_throttle import FailureThrottle
    from modules.api.docs_routes import doc_urls

    app = FastAPI(title="Stable Diffusion web UI API", version=runtime.version,
                  root_path=args.subpath or "", **doc_urls(args.api_auth))
    app.state.auth_throttle = FailureThrottle()  # one per app: API auth and UI login share it
    app.state.server_roots = server_roots(runtime)
    if not args.nowebui:
        from modules.ui.frontend_assets import FrontendAssetMiddleware

        app.add_middleware(FrontendAssetMiddleware)  # inside the timing middleware added next
    _add_process_time(app)
    _add_cors(app, runtime)
    _add_body_limit(app, runtime)
    from modules.api.docs_routes import register_docs_routes

    docs_deps: list[Any] = []
    if args.api_auth:
        from modules.api.auth import auth_dependencies

        docs_deps = auth_dependencies(args.api_auth, app.state.auth_throttle)
    register_docs_routes(app, docs_deps)  # offline /docs and /redoc, behind --api-auth when it is set
    from modules.api.internal import register_internal_routes

    register_internal_routes(app, runtime)
    host = _extensions(runtime)
    if args.api or args.nowebui:
        from modules.api.routes import register_api

        register_api(app, runtime)
    host.call("app_started", None, app)  # before the UI mounts at "/": extension routes stay reachable
    if not args.nowebui:
        from modules.api.extension_files import register_extension_files

        if not (args.gradio_auth or args.gradio_auth_path):  # not behind the page login: not offered with one
            register_extension_files(app, runtime)
        from modules.ui.mount import mount_ui

        app = mount_ui(app, runtime)
    return app


class PortInUseError(SystemExit):
    """The port is taken: the one message the console shows (exit status 1)."""


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind before anything is announced, so a taken port gives one clear message and no
    "Running on local URL" line for a server that never runs."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        in_use = e.errno == errno.EADDRINUSE
        what = "is already in use (is another web UI running?)" if in_use else f"cannot be used ({e.strerror})"
        raise PortInUseError(f"Port {port} on {host} {what}: stop the other program, or start with "
                             f"--port {port + 1} (any free port)") from e
    return sock


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
    configure_console_logging(args.loglevel)
    host = server_host(args)
    sock = bind_socket(host, args.port)
    app = create_app(runtime)
    shown = "127.0.0.1" if host == "0.0.0.0" else host
    print(f"Running on local URL:  http://{shown}:{args.port}", flush=True)
    if args.autolaunch and not args.nowebui:
        import webbrowser

        webbrowser.open(f"http://{shown}:{args.port}")
    config = uvicorn.Config(app, host=host, port=args.port, timeout_keep_alive=args.timeout_keep_alive,
                            ssl_keyfile=args.tls_keyfile, ssl_certfile=args.tls_certfile, log_level="warning",
                            timeout_graceful_shutdown=SHUTDOWN_GRACE_S)
    server = uvicorn.Server(config)
    server.handle_exit = stopping_handler(server.handle_exit, runtime)  # type: ignore[method-assign]
    try:
        server.run(sockets=[sock])
    finally:
        runtime.shutdown()
    print("Server stopped.", flush=True)


def stopping_handler(uvicorn_exit: Any, runtime: Runtime) -> Any:
    """SIGTERM/Ctrl+C: interrupt the running job and drop the waiting ones first, so that the
    requests waiting for them are answered and uvicorn's graceful shutdown ends within seconds
    (a 25-minute job once kept the server from stopping). Settings need no flush: every write
    is on disk before it is answered."""

    def handle(sig: int, frame: Any) -> None:
        runtime.queue.stop_all()
        uvicorn_exit(sig, frame)

    return handle
