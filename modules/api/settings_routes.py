"""/sdapi/v1 routes about the server's state: options, flags, checkpoints, memory."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Body
from starlette.concurrency import run_in_threadpool

from modules.api.errors import ApiError
from modules.api.request_mapping import refuse_unsupported_settings
from modules.models.registry import to_api_dict
from modules.runtime import NoCheckpointError, Runtime
from modules.settings.store import SettingsError


def current_options(runtime: Runtime) -> dict[str, Any]:
    """Every setting; an unset checkpoint shows the one jobs would use (A1111 shows the loaded one)."""
    options = runtime.settings.snapshot()
    if not options.get("sd_model_checkpoint"):
        try:
            options["sd_model_checkpoint"] = runtime.checkpoint_for(None).title
        except (NoCheckpointError, LookupError):
            options["sd_model_checkpoint"] = None
    return options


def set_options(runtime: Runtime, updates: dict[str, Any]) -> None:
    """Validate everything first (nothing is half-applied), switch the model, then save."""
    if runtime.args.freeze_settings:
        raise ApiError(403, "settings are frozen by --freeze-settings; restart without it to change them")
    try:
        clean = runtime.settings.validate(updates)
    except SettingsError as e:
        raise ApiError(422, str(e)) from e
    refuse_unsupported_settings(clean, runtime)
    name = clean.pop("sd_model_checkpoint", None)
    if name:
        if runtime.checkpoints.find(str(name)) is None:
            raise ApiError(422, f"sd_model_checkpoint: checkpoint {name!r} not found; "
                                "GET /sdapi/v1/sd-models lists the available ones")
        runtime.select_checkpoint(str(name))
    if clean:
        runtime.settings.update(clean)


def memory_stats() -> dict[str, Any]:
    """A1111's /memory: this process's RAM, and CUDA statistics when CUDA is there."""
    import psutil
    import torch

    process = psutil.Process(os.getpid())
    rss = process.memory_info().rss
    total = psutil.virtual_memory().total
    ram = {"free": total - rss, "used": rss, "total": total}
    if not torch.cuda.is_available():
        return {"ram": ram, "cuda": {"error": "CUDA not available"}}
    try:
        free, gpu_total = torch.cuda.mem_get_info()
        s = torch.cuda.memory_stats()
        pair = lambda key: {"current": s.get(f"{key}.all.current", 0), "peak": s.get(f"{key}.all.peak", 0)}  # noqa: E731
        cuda = {"system": {"free": free, "used": gpu_total - free, "total": gpu_total},
                "active": pair("active_bytes"), "allocated": pair("allocated_bytes"),
                "reserved": pair("reserved_bytes"), "inactive": pair("inactive_split_bytes"),
                "events": {"retries": s.get("num_alloc_retries", 0), "oom": s.get("num_ooms", 0)}}
    except RuntimeError as e:
        cuda = {"error": str(e)}
    return {"ram": ram, "cuda": cuda}


def reload_checkpoint(runtime: Runtime) -> None:
    """Load the current checkpoint (after unload-checkpoint), through the queue."""
    info = runtime.checkpoint_for(None)
    runtime.queue.run(lambda _c: runtime.load_checkpoint(info), kind="load")


def settings_router(runtime: Runtime) -> APIRouter:
    router = APIRouter()

    @router.get("/options")
    def get_options() -> dict[str, Any]:
        """Every setting key and its current value."""
        return current_options(runtime)

    @router.post("/options")
    def post_options(body: dict[str, Any] = Body(..., examples=[{"CLIP_stop_at_last_layers": 2}])) -> None:
        """Change settings (saved atomically); `sd_model_checkpoint` switches the model."""
        set_options(runtime, body)

    @router.get("/cmd-flags")
    def cmd_flags() -> dict[str, Any]:
        """Every command-line flag's value."""
        return vars(runtime.args)

    @router.get("/sd-models")
    def sd_models() -> list[dict[str, Any]]:
        return [to_api_dict(info) for info in runtime.checkpoints.list()]

    @router.post("/refresh-checkpoints")
    def refresh_checkpoints() -> None:
        """Rescan the checkpoint folders."""
        runtime.checkpoints.refresh()

    @router.post("/unload-checkpoint")
    async def unload_checkpoint() -> dict[str, Any]:
        """Free the model's memory (waits for the running job, through the queue)."""
        await run_in_threadpool(runtime.queue.run, lambda _c: runtime.models.unload(), kind="unload")
        return {}

    @router.post("/reload-checkpoint")
    async def reload() -> dict[str, Any]:
        await run_in_threadpool(reload_checkpoint, runtime)
        return {}

    @router.get("/memory")
    def memory() -> dict[str, Any]:
        return memory_stats()

    return router
