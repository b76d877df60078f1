"""Putting prepared requests on the shared queue and waiting without blocking the event loop.

The API and the UI share `runtime.queue` (one FIFO, one GPU worker). A waiting request parks a
worker thread on `job.wait()`, never the event loop, so progress polls and other clients are
answered while a generation runs.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool

from modules.api.errors import ApiError
from modules.api.request_mapping import PreparedJob
from modules.api.responses import generation_response
from modules.engine.request import GenerationResult
from modules.jobs.progress import JobControl
from modules.jobs.queue import Job
from modules.runtime import Runtime


def submit_prepared(runtime: Runtime, prepared: PreparedJob, client: str | None = None) -> Job:
    """Queue one generation. `override_settings_restore_afterwards=false` stores the overrides
    when the job starts (inside the worker, so jobs queued after it see them, as in A1111)."""
    req, persist = prepared.request, dict(prepared.persist_settings)

    def run(control: JobControl) -> GenerationResult:
        if persist:
            runtime.settings.update(persist)
        return runtime.generate(req, control)

    try:
        return runtime.queue.submit(run, kind=req.mode, task_id=req.task_id, client=client)
    except ValueError as e:  # a forced task id that is already in use
        raise ApiError(409, f"force_task_id: {e}") from e


def build_response(runtime: Runtime, prepared: PreparedJob, result: GenerationResult) -> dict[str, Any]:
    """A1111's answer; `info` also carries `model_defaults` (the unsent fields the model's recommended
    values filled, e.g. the demo model's 64x64 / 20 steps) when there were any."""
    response = generation_response(result, prepared.parameters, prepared.send_images, runtime.settings.snapshot())
    if prepared.model_defaults:
        info = json.loads(response["info"])
        info["model_defaults"] = dict(prepared.model_defaults)
        response["info"] = json.dumps(info)
    return response


async def run_generation(runtime: Runtime, prepared: PreparedJob, client: str | None = None) -> dict[str, Any]:
    """Submit, wait in a worker thread, encode the images in a worker thread."""
    job = submit_prepared(runtime, prepared, client)
    result = await run_in_threadpool(job.wait)
    return await run_in_threadpool(build_response, runtime, prepared, result)
