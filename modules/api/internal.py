"""`/internal/*`: the routes the web UI polls (progress, pending tasks, ping), always mounted.

A1111 guards these with the UI's login; here `--api-auth` guards them when given (the UI
layer handles `--gradio-auth` for its own pages).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI

from modules.api.auth import auth_dependencies
from modules.api.errors import ALL_ERRORS, register_error_handlers
from modules.api.models import InternalProgressBody, InternalProgressResponse
from modules.api.progress_view import internal_progress
from modules.runtime import Runtime


def internal_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(prefix="/internal", tags=["internal"])

    @router.post("/progress", response_model=InternalProgressResponse)
    def progress(body: InternalProgressBody) -> dict[str, Any]:
        """Progress of one task id: queued position, fraction, ETA, new live preview."""
        enabled = bool(runtime.settings.get("live_previews_enable", True))
        return internal_progress(runtime.queue, body.id_task, body.id_live_preview, body.live_preview,
                                 previews_enabled=enabled)

    @router.get("/pending-tasks")
    def pending_tasks() -> dict[str, Any]:
        """Task ids waiting in the queue (the running one is not pending)."""
        tasks = runtime.queue.pending_ids()
        return {"size": len(tasks), "tasks": tasks}

    @router.get("/ping")
    def ping() -> dict[str, Any]:
        return {}

    return router


def register_internal_routes(app: FastAPI, runtime: Runtime) -> None:
    """Mount /internal/* (called by modules/server.py for every app)."""
    register_error_handlers(app)
    app.include_router(internal_router(runtime), responses=ALL_ERRORS, dependencies=auth_dependencies(
        runtime.args.api_auth, getattr(app.state, "auth_throttle", None)))
