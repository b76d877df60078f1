"""`/jobs/v1`: an asynchronous job API beside A1111's blocking one (our addition).

POST returns 202 with a job id at once; the client polls `GET /jobs/v1/{id}` for status,
progress and ETA, fetches the live preview as a PNG, collects the result (the same body the
blocking route returns) and may cancel with DELETE. The queue is the same FIFO the blocking
routes and the UI use. Finished jobs are kept as long as the queue keeps them (10 minutes and
at most 200 finished jobs); after that their id answers 404.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from modules.api.auth import client_address
from modules.api.body_models import with_body
from modules.api.errors import ApiError
from modules.api.models import Img2ImgBody, JobStatus, JobSubmitted, Txt2ImgBody, app_bodies
from modules.api.progress_view import preview_image
from modules.api.request_mapping import PreparedJob, prepare
from modules.api.submission import build_response, submit_prepared
from modules.images.codec import encode_image_bytes
from modules.jobs.queue import CANCELLED, DONE, FAILED, QUEUED, RUNNING, Job
from modules.runtime import Runtime


@dataclass
class JobRecord:
    """What the jobs API remembers beside the queue's Job: how to answer for it."""

    prepared: PreparedJob
    cancel_requested: bool = False


class JobBook:
    """Records of jobs submitted through /jobs/v1, forgotten when the queue forgets the job."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._lock = threading.Lock()
        self._records: dict[str, JobRecord] = {}

    def add(self, job: Job, prepared: PreparedJob) -> None:
        """Only what the answer needs is kept: not the request with its decoded input images
        (six 13000x13000 inputs once stayed in memory for the 10 minutes a result is kept)."""
        kept = dataclasses.replace(prepared, request=None, persist_settings={})
        with self._lock:
            self._records[job.task_id] = JobRecord(kept)
            self._prune()

    def get(self, task_id: str) -> JobRecord | None:
        with self._lock:
            self._prune()
            return self._records.get(task_id)

    def ids(self) -> list[str]:
        with self._lock:
            self._prune()
            return list(self._records)

    def _prune(self) -> None:
        queue = self._runtime.queue
        for task_id in [t for t in self._records if queue.get(t) is None]:
            del self._records[task_id]

    def response(self, record: JobRecord, job: Job) -> dict[str, Any] | None:
        """The finished job's body, encoded on each request: the queue already holds the
        images, and a second, encoded copy per job would double the memory kept."""
        if job.status != DONE or job.result is None:
            return None
        return build_response(self._runtime, record.prepared, job.result)


def public_status(job: Job, record: JobRecord | None) -> str:
    """A job interrupted by DELETE reports `cancelled` even though it returned partial images."""
    if record is not None and record.cancel_requested and job.status == DONE:
        return CANCELLED
    return job.status


def job_progress(job: Job) -> tuple[float, float | None]:
    if job.status in (DONE, FAILED, CANCELLED):
        return (1.0 if job.status == DONE else 0.0), 0.0
    if job.status != RUNNING:
        return 0.0, None
    snap = job.control.snapshot()
    return snap.fraction, snap.eta()


def job_status(runtime: Runtime, book: JobBook, job: Job, with_result: bool) -> dict[str, Any]:
    record = book.get(job.task_id)
    progress, eta = job_progress(job)
    error = job.error if job.status in (FAILED, CANCELLED) else None
    return {
        "id": job.task_id, "kind": job.kind, "status": public_status(job, record),
        "interrupted": bool(getattr(job.result, "interrupted", False)) or job.status == CANCELLED,
        "position": runtime.queue.position(job.task_id) if job.status == QUEUED else None,
        "progress": progress, "eta": eta,
        "created_at": job.submitted_at, "started_at": job.started_at, "finished_at": job.finished_at,
        "error": (str(error) or type(error).__name__) if error else None,
        "error_type": type(error).__name__ if error else None,
        "result": book.response(record, job) if (with_result and record is not None) else None,
    }


def _job_or_404(runtime: Runtime, job_id: str) -> Job:
    job = runtime.queue.get(job_id)
    if job is None:
        raise ApiError(404, f"job {job_id!r} not found: it never existed or its result expired "
                            "(finished jobs are kept 10 minutes)")
    return job


def _submit(runtime: Runtime, book: JobBook, body: Txt2ImgBody | Img2ImgBody, mode: str,
            client: str | None = None) -> dict[str, Any]:
    prepared = prepare(body, runtime, mode)
    job = submit_prepared(runtime, prepared, client)
    book.add(job, prepared)
    return {"id": job.task_id, "status": job.status, "position": runtime.queue.position(job.task_id)}


def jobs_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(prefix="/jobs/v1", tags=["jobs (async)"])
    book = JobBook(runtime)
    txt2img_body, img2img_body = app_bodies(runtime.request_fields.freeze("the API"))

    @router.post("/txt2img", status_code=202, response_model=JobSubmitted)
    @with_body(txt2img_body)
    async def submit_txt2img(body: Txt2ImgBody, request: Request) -> dict[str, Any]:
        """Queue a txt2img job (same body as /sdapi/v1/txt2img) and answer at once."""
        return await run_in_threadpool(_submit, runtime, book, body, "txt2img", client_address(request))

    @router.post("/img2img", status_code=202, response_model=JobSubmitted)
    @with_body(img2img_body)
    async def submit_img2img(body: Img2ImgBody, request: Request) -> dict[str, Any]:
        return await run_in_threadpool(_submit, runtime, book, body, "img2img", client_address(request))

    @router.get("", response_model=list[JobStatus])
    def list_jobs() -> list[dict[str, Any]]:
        """Jobs submitted here that the queue still remembers, oldest first (no result bodies)."""
        jobs = [j for j in (runtime.queue.get(t) for t in book.ids()) if j is not None]
        jobs.sort(key=lambda j: j.submitted_at)
        return [job_status(runtime, book, j, with_result=False) for j in jobs]

    @router.get("/{job_id}", response_model=JobStatus)
    def get_job(job_id: str) -> dict[str, Any]:
        """Status, position, progress and ETA; `result` holds the images once done."""
        return job_status(runtime, book, _job_or_404(runtime, job_id), with_result=True)

    @router.get("/{job_id}/preview", responses={200: {"content": {"image/png": {}}}})
    def get_preview(job_id: str) -> Response:
        """The latest live preview as a PNG; 404 until one exists."""
        image = preview_image(_job_or_404(runtime, job_id))
        if image is None:
            raise ApiError(404, f"job {job_id!r} has no live preview (yet); previews appear every "
                                "'show_progress_every_n_steps' steps while it runs")
        return Response(encode_image_bytes(image, "png"), media_type="image/png")

    @router.delete("/{job_id}", response_model=JobStatus)
    def cancel_job(job_id: str) -> dict[str, Any]:
        """Cancel: a queued job is removed, a running one is interrupted (keeping finished images)."""
        job = _job_or_404(runtime, job_id)
        if job.finished:
            raise ApiError(409, f"job {job_id!r} already finished ({job.status}); nothing to cancel")
        record = book.get(job_id)
        if record is not None:
            record.cancel_requested = True
        runtime.queue.cancel(job_id)
        return job_status(runtime, book, job, with_result=False)

    return router
