"""One FIFO queue and one worker thread for all model work, shared by the UI and the API.

Every job has a task id (A1111's `task(...)` form unless the client forces one), a position
while queued, progress while running, and a result kept for a bounded time afterwards so an
asynchronous client can collect it. Cancelling a queued job removes it; cancelling a running
one interrupts it.
"""

from __future__ import annotations

import collections
import random
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modules.jobs.progress import JobControl, JobInterrupted

JobFn = Callable[[JobControl], Any]

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"


def new_task_id(kind: str) -> str:
    """`task(txt2img-AB12CD3)`: A1111's shape, 7 upper-case alphanumerics."""
    rand = "".join(random.choices(string.ascii_uppercase + string.digits, k=7))
    return f"task({kind}-{rand})"


def _finished(control: JobControl) -> Any:
    raise RuntimeError("this job already ran")


class QueueFullError(RuntimeError):
    """Too many jobs waiting; the client should retry later."""


class ClientQueueFullError(QueueFullError):
    """This client already has its share of the queue waiting; others still get in."""


@dataclass
class Job:
    """One unit of GPU work and its outcome."""

    task_id: str
    kind: str
    fn: JobFn
    control: JobControl
    submitted_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    status: str = QUEUED
    result: Any = None
    error: BaseException | None = None
    client: str | None = None  # who submitted it (an IP address), for per-client shares
    _done: threading.Event = field(default_factory=threading.Event)

    def wait(self, timeout: float | None = None) -> Any:
        """Block until finished; re-raise the job's error in the caller's thread."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"{self.task_id} did not finish within {timeout} s")
        if self.error is not None:
            raise self.error
        return self.result

    @property
    def finished(self) -> bool:
        return self._done.is_set()


class JobQueue:
    """FIFO of jobs run one at a time by a daemon worker thread."""

    def __init__(self, *, max_queued: int = 256, keep_results_s: float = 600.0, keep_results_n: int = 200,
                 preview_every: Callable[[], int] | None = None, per_client: int = 0) -> None:
        self._cond = threading.Condition()
        self._pending: collections.deque[Job] = collections.deque()
        self._jobs: dict[str, Job] = {}
        self._current: Job | None = None
        self._max_queued = max_queued
        self._per_client = per_client  # 0: no per-client limit
        self._keep_s = keep_results_s
        self._keep_n = keep_results_n
        self._preview_every = preview_every or (lambda: 0)
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="gpu-worker", daemon=True)
        self._thread.start()

    def submit(self, fn: JobFn, *, kind: str = "job", task_id: str | None = None, client: str | None = None) -> Job:
        """Queue `fn`. `client` (an address) may have at most `per_client` jobs waiting, so that
        one client cannot fill the queue and lock everyone else out."""
        with self._cond:
            if len(self._pending) >= self._max_queued:
                raise QueueFullError(f"{len(self._pending)} jobs are waiting; try again later")
            if client is not None and self._per_client > 0:
                mine = sum(1 for j in self._pending if j.client == client)
                if mine >= self._per_client:
                    raise ClientQueueFullError(f"you already have {mine} jobs waiting (the limit per client is "
                                               f"{self._per_client}); wait for them to finish")
            tid = task_id or new_task_id(kind)
            if tid in self._jobs and not self._jobs[tid].finished:
                raise ValueError(f"task id {tid!r} is already queued or running")
            job = Job(tid, kind, fn, JobControl(preview_every=self._preview_every()), client=client)
            self._jobs[tid] = job
            self._pending.append(job)
            self._prune()
            self._cond.notify_all()
            return job

    def run(self, fn: JobFn, *, kind: str = "job", task_id: str | None = None, timeout: float | None = None) -> Any:
        """Submit and wait: the blocking form the A1111 routes use."""
        return self.submit(fn, kind=kind, task_id=task_id).wait(timeout)

    def get(self, task_id: str) -> Job | None:
        with self._cond:
            return self._jobs.get(task_id)

    def position(self, task_id: str) -> int | None:
        """1-based place among waiting jobs; None when not waiting."""
        with self._cond:
            for i, job in enumerate(self._pending):
                if job.task_id == task_id:
                    return i + 1
            return None

    def pending_ids(self) -> list[str]:
        with self._cond:
            return [j.task_id for j in self._pending]

    def current(self) -> Job | None:
        with self._cond:
            return self._current

    def cancel(self, task_id: str) -> bool:
        """Remove a waiting job or interrupt the running one; False if unknown or finished."""
        with self._cond:
            job = self._jobs.get(task_id)
            if job is None or job.finished:
                return False
            if job in self._pending:
                self._pending.remove(job)
                job.status = CANCELLED
                job.error = JobInterrupted("cancelled before it started")
                job.finished_at = time.time()
                job.fn = _finished
                job._done.set()
                return True
        job.control.interrupt()
        return True

    def interrupt_current(self) -> None:
        job = self.current()
        if job is not None:
            job.control.interrupt()

    def skip_current(self) -> None:
        job = self.current()
        if job is not None:
            job.control.skip()

    def stop_all(self) -> None:
        """Shutting down: cancel every waiting job, interrupt the running one, stop the worker."""
        for task_id in self.pending_ids():
            self.cancel(task_id)
        self.interrupt_current()
        self.stop()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def _next(self) -> Job | None:
        with self._cond:
            while not self._pending and not self._stopped:
                self._cond.wait()
            if self._stopped:
                return None
            job = self._pending.popleft()
            job.status, job.started_at = RUNNING, time.time()
            self._current = job
            return job

    def _run(self) -> None:
        while (job := self._next()) is not None:
            job.control.start()
            try:
                job.result = job.fn(job.control)
                job.status = DONE
            except BaseException as e:  # noqa: BLE001 - the worker must survive any job failure
                job.error, job.status = e, FAILED
            finally:
                job.fn = _finished  # the closure holds the request and its decoded input images
                job.finished_at = time.time()
                with self._cond:
                    self._current = None
                job._done.set()

    def _prune(self) -> None:
        """Forget finished jobs older than the retention time, or beyond the count limit."""
        now = time.time()
        finished = sorted((j for j in self._jobs.values() if j.finished), key=lambda j: j.finished_at or 0)
        excess = max(len(finished) - self._keep_n, 0)
        for i, job in enumerate(finished):
            if i < excess or now - (job.finished_at or now) > self._keep_s:
                del self._jobs[job.task_id]
