"""Progress answers in A1111's shapes, read from the shared queue's per-job controls.

`/sdapi/v1/progress` reports the running job with A1111's formula (0.01 + job_no/job_count +
step fraction); `/internal/progress` reports one task by id, with the queue position while it
waits and the live preview only when it changed since the client's last one.
"""

from __future__ import annotations

import time
from typing import Any

from modules.api.responses import encode_png_b64
from modules.jobs.progress import ProgressSnapshot
from modules.jobs.queue import CANCELLED, DONE, FAILED, Job, JobQueue

FINISHED = (DONE, FAILED, CANCELLED)


def state_dict(job: Job | None, snap: ProgressSnapshot | None) -> dict[str, Any]:
    """A1111's `State.dict()`; all zeros when idle."""
    if job is None or snap is None:
        return {"skipped": False, "interrupted": False, "stopping_generation": False, "job": "",
                "job_count": 0, "job_timestamp": "0", "job_no": 0, "sampling_step": 0, "sampling_steps": 0}
    started = job.started_at or job.submitted_at
    return {"skipped": snap.skipped, "interrupted": snap.interrupted, "stopping_generation": False,
            "job": job.kind, "job_count": snap.job_count,
            "job_timestamp": time.strftime("%Y%m%d%H%M%S", time.localtime(started)),
            "job_no": snap.job_no, "sampling_step": snap.sampling_step, "sampling_steps": snap.sampling_steps}


def preview_image(job: Job) -> Any:
    """The job's latest live preview (a PIL image) or None."""
    _, image = job.control.latest_preview()
    return image if hasattr(image, "save") else None


def sdapi_progress(queue: JobQueue, skip_current_image: bool) -> dict[str, Any]:
    """GET /sdapi/v1/progress."""
    job = queue.current()
    snap = job.control.snapshot() if job is not None else None
    if job is None or snap is None or snap.job_count <= 0:
        return {"progress": 0.0, "eta_relative": 0.0, "state": state_dict(None, None),
                "current_image": None, "textinfo": None, "current_task": None}
    image = None if skip_current_image else preview_image(job)
    return {"progress": snap.fraction, "eta_relative": snap.eta(), "state": state_dict(job, snap),
            "current_image": encode_png_b64(image) if image is not None else None,
            "textinfo": snap.textinfo, "current_task": job.task_id}


def task_fraction(snap: ProgressSnapshot) -> float:
    """/internal/progress's formula (A1111's progressapi: no 0.01 offset)."""
    if snap.job_count <= 0:
        return 0.0
    value = snap.job_no / snap.job_count
    if snap.sampling_steps > 0:
        value += snap.sampling_step / snap.sampling_steps / snap.job_count
    return min(value, 1.0)


def _waiting_text(queue: JobQueue, task_id: str) -> tuple[bool, str]:
    pending = queue.pending_ids()
    if task_id in pending:
        return True, f"In queue: {pending.index(task_id) + 1}/{len(pending)}"
    return False, "Waiting..."


def internal_progress(queue: JobQueue, task_id: str | None, id_live_preview: int, live_preview: bool,
                      previews_enabled: bool) -> dict[str, Any]:
    """POST /internal/progress for one task id."""
    job = queue.get(task_id) if task_id else None
    current = queue.current()
    active = job is not None and current is job
    completed = job is not None and job.status in FINISHED
    if not active or job is None:
        queued, text = _waiting_text(queue, task_id) if task_id else (False, "Waiting...")
        return {"active": False, "queued": queued, "completed": completed, "progress": None, "eta": None,
                "live_preview": None, "id_live_preview": -1, "textinfo": text}
    snap = job.control.snapshot()
    progress = task_fraction(snap)
    elapsed = time.time() - (snap.started_at or time.time())
    eta = elapsed / progress - elapsed if progress > 0 else None
    preview, preview_id = None, id_live_preview
    if live_preview and previews_enabled:
        new_id, image = job.control.latest_preview()
        if new_id != id_live_preview and hasattr(image, "save"):
            preview, preview_id = f"data:image/png;base64,{encode_png_b64(image)}", new_id
    return {"active": True, "queued": False, "completed": False, "progress": progress, "eta": eta,
            "live_preview": preview, "id_live_preview": preview_id, "textinfo": snap.textinfo}
