"""Mount the web UI on the app's FastAPI server at "/", with login and theme from the flags.

Called by `modules.server.create_app`. `--gradio-auth` / `--gradio-auth-path` put gradio's
login page in front of the UI; `--theme light|dark` fixes the colour scheme (a `?__theme=`
in the URL still wins, as in A1111). Generated images and `--gradio-allowed-path` folders are
the only files the UI may serve besides its own.
"""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr
from fastapi import FastAPI

from modules.ui.auth import credentials_from_args
from modules.ui.blocks import create_blocks
from modules.ui.extra_networks_routes import register_card_routes
from modules.ui.page_assets import ON_LOAD_JS, page_css, page_head, page_theme

log = logging.getLogger(__name__)

QUEUE_MAX_SIZE = 64  # A1111's demo.queue(64): waiting browser requests, not jobs


def allowed_paths(runtime: Any) -> list[str]:
    paths = runtime.paths
    extra = list(getattr(runtime.args, "gradio_allowed_path", None) or [])
    return [str(paths.outputs_dir), str(paths.log_images_dir), *extra]


def mount_ui(app: FastAPI, runtime: Any) -> FastAPI:
    """Build the Blocks for `runtime` and serve them at "/" of `app`; returns the app."""
    auth = credentials_from_args(runtime.args)
    demo = create_blocks(runtime)
    demo.queue(max_size=QUEUE_MAX_SIZE)
    register_card_routes(app, runtime)
    log.info("web UI mounted%s", " with login" if auth else "")
    app = gr.mount_gradio_app(
        app, demo, path="/", auth=auth, auth_message="Log in to Stable Diffusion web UI" if auth else None,
        allowed_paths=allowed_paths(runtime), theme=page_theme(), css=page_css(runtime),
        head=page_head(runtime), js=ON_LOAD_JS, footer_links=[], show_error=True, ssr_mode=False,
        enable_monitoring=False, pwa=False, mcp_server=False)
    if auth:
        from modules.access.auth_throttle import FailureThrottle
        from modules.ui.auth_guard import GradioAuthGuard

        throttle = getattr(app.state, "auth_throttle", None) or FailureThrottle()
        app.add_middleware(GradioAuthGuard, outer=app, throttle=throttle)
    return app
