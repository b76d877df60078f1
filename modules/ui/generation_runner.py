"""Follow one queued job for the browser: queue position, progress, live previews, then the result.

The UI submits to the same job queue as the API and then polls the job's `JobControl` from
the request thread, so any number of browser tabs share one GPU worker and each sees its own
place in the queue. Errors become messages here; a handler never raises into gradio.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from modules.engine.request import GenerationResult
from modules.engine.validation import InvalidRequestError
from modules.jobs.progress import JobInterrupted
from modules.jobs.queue import QUEUED, Job, QueueFullError
from modules.ui.progress_view import queued_html, running_html, starting_html

log = logging.getLogger(__name__)

MIN_POLL_S, MAX_POLL_S = 0.1, 5.0


class QueueView(Protocol):
    def position(self, task_id: str) -> int | None: ...
    def pending_ids(self) -> list[str]: ...


@dataclass
class RunUpdate:
    """One step of what the browser should show. `result`/`error` come only in the last one."""

    progress: str = ""
    preview: Any = None  # a PIL image when a new live preview exists
    result: GenerationResult | None = None
    error: str | None = None


def poll_interval(refresh_ms: Any) -> float:
    """The `live_preview_refresh_period` setting (ms), clamped so a typo cannot spin or stall."""
    try:
        seconds = float(refresh_ms) / 1000
    except (TypeError, ValueError):
        seconds = 1.0
    return min(max(seconds, MIN_POLL_S), MAX_POLL_S)


def describe_error(error: BaseException) -> str:
    """What the user reads when a job fails: the message when it is ours, the type otherwise."""
    if isinstance(error, JobInterrupted):
        return "Interrupted before the job started"
    if isinstance(error, (InvalidRequestError, LookupError, QueueFullError)):
        return str(error)
    if type(error).__name__ in ("NoCheckpointError", "SettingsError", "AuthConfigError"):
        return str(error)
    log.error("generation failed", exc_info=error)
    return f"{type(error).__name__}: {error}"


def _wait_a_little(job: Job, seconds: float, sleep: Callable[[float], None]) -> None:
    deadline = time.monotonic() + seconds
    while not job.finished and time.monotonic() < deadline:
        sleep(0.05)


def _progress_update(job: Job, queue: QueueView, last_preview: int) -> tuple[RunUpdate, int]:
    if job.status == QUEUED:
        position = queue.position(job.task_id)
        if position is not None:
            return RunUpdate(progress=queued_html(position, len(queue.pending_ids()))), last_preview
        return RunUpdate(progress=starting_html()), last_preview
    snap = job.control.snapshot()
    preview_id, image = job.control.latest_preview()
    update = RunUpdate(progress=running_html(snap))
    if preview_id != last_preview and image is not None:
        update.preview = image
    return update, preview_id


def follow_job(job: Job, queue: QueueView, poll_s: float = 1.0,
               sleep: Callable[[float], None] = time.sleep) -> Iterator[RunUpdate]:
    """Yield progress until the job ends, then one final update with its result or error."""
    last_preview = 0
    while not job.finished:
        update, last_preview = _progress_update(job, queue, last_preview)
        yield update
        _wait_a_little(job, poll_s, sleep)
    try:
        yield RunUpdate(result=job.wait(0))
    except BaseException as e:  # noqa: BLE001 - every failure must reach the user as text
        yield RunUpdate(error=describe_error(e))
