"""Per-job progress and control: what the engine reports and what users ask of a running job.

The engine receives a `JobControl`; it calls `step()` once per sampling step. Interrupt and
skip are requests stored here by the UI/API threads and honoured by raising from `step()`
inside the sampling loop, so no sampler needs to know about them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class JobInterrupted(Exception):
    """The user pressed Interrupt: stop the whole job, keep what is finished."""


class ImageSkipped(Exception):
    """The user pressed Skip: abandon the current image/batch, go on with the next."""


@dataclass
class ProgressSnapshot:
    """A consistent copy of a job's progress, safe to hand to another thread."""

    job_no: int
    job_count: int
    sampling_step: int
    sampling_steps: int
    started_at: float | None
    textinfo: str | None
    preview_id: int
    interrupted: bool
    skipped: bool

    @property
    def fraction(self) -> float:
        """A1111's formula: 0.01 + job_no/job_count + (1/job_count)(step/steps), clamped."""
        if self.job_count <= 0:
            return 0.0
        value = 0.01 + self.job_no / self.job_count
        if self.sampling_steps > 0:
            value += (1 / self.job_count) * (self.sampling_step / self.sampling_steps)
        return min(value, 1.0)

    def eta(self, now: float | None = None) -> float:
        if self.started_at is None or self.fraction <= 0.01:
            return 0.0
        elapsed = (now or time.time()) - self.started_at
        return max(elapsed / self.fraction - elapsed, 0.0)


PreviewFn = Callable[[], Any]


class JobControl:
    """Shared between the worker (writes progress) and request threads (read, interrupt)."""

    def __init__(self, preview_every: int = 0) -> None:
        self._lock = threading.Lock()
        self.preview_every = preview_every
        self.job_no = 0
        self.job_count = 1
        self.sampling_step = 0
        self.sampling_steps = 0
        self.started_at: float | None = None
        self.textinfo: str | None = None
        self.preview: Any = None
        self.preview_id = 0
        self.interrupted = False
        self.skipped = False

    def start(self) -> None:
        with self._lock:
            self.started_at = time.time()

    def set_job(self, job_no: int, job_count: int, steps: int) -> None:
        with self._lock:
            self.job_no, self.job_count = job_no, job_count
            self.sampling_step, self.sampling_steps = 0, steps
            self.skipped = False

    def set_total_steps(self, steps: int) -> None:
        """Correct the step count of the running job (a pass's real count is known late)."""
        with self._lock:
            self.sampling_steps = steps

    def step(self, step: int, preview: PreviewFn | None = None) -> None:
        """Record a finished step; make a live preview every N steps; honour interrupt/skip."""
        with self._lock:
            self.sampling_step = step
            interrupted, skipped = self.interrupted, self.skipped
        if interrupted:
            raise JobInterrupted()
        if skipped:
            raise ImageSkipped()
        if preview is not None and self.preview_every > 0 and step % self.preview_every == 0:
            image = preview()
            with self._lock:
                self.preview = image
                self.preview_id += 1

    def check(self) -> None:
        """Honour an interrupt between images (outside the sampling loop)."""
        if self.interrupted:
            raise JobInterrupted()

    def interrupt(self) -> None:
        with self._lock:
            self.interrupted = True

    def skip(self) -> None:
        with self._lock:
            self.skipped = True

    def snapshot(self) -> ProgressSnapshot:
        with self._lock:
            return ProgressSnapshot(self.job_no, self.job_count, self.sampling_step, self.sampling_steps,
                                    self.started_at, self.textinfo, self.preview_id, self.interrupted, self.skipped)

    def latest_preview(self) -> tuple[int, Any]:
        with self._lock:
            return self.preview_id, self.preview
