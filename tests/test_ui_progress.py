"""What the progress bar says (queue position, batch, step, ETA) and how a job is followed
from the browser's request thread until its result or error."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from modules.engine.validation import InvalidRequestError
from modules.jobs.progress import JobControl, ProgressSnapshot
from modules.jobs.queue import JobQueue
from modules.ui.generation_runner import describe_error, follow_job, poll_interval
from modules.ui.progress_view import error_html, format_eta, queued_html, running_text


@pytest.fixture
def queue() -> Any:
    q = JobQueue(preview_every=lambda: 1)
    yield q
    q.stop()


@pytest.mark.parametrize(("seconds", "text"), [(0.4, "0s"), (4.6, "5s"), (65, "1m 05s"), (3725, "1h 02m")])
def test_format_eta(seconds: float, text: str) -> None:
    assert format_eta(seconds) == text


def test_running_text_shows_percent_batch_step_and_eta() -> None:
    snap = ProgressSnapshot(job_no=1, job_count=2, sampling_step=5, sampling_steps=10, started_at=100.0,
                            textinfo=None, preview_id=0, interrupted=False, skipped=False)
    # A1111's fraction: 0.01 + 1/2 + (1/2)(5/10) = 0.76; 10 s elapsed -> ETA 10/0.76 - 10 = 3.2 s
    assert running_text(snap, now=110.0) == "76% · Batch 2/2 · Step 5/10 · ETA 3s"
    interrupted = ProgressSnapshot(0, 1, 0, 10, None, None, 0, True, False)
    assert running_text(interrupted).endswith("Interrupting…")


def test_queued_html_and_error_html_escape_and_say_the_position() -> None:
    assert "In queue: 2/3" in queued_html(2, 3)
    assert "In queue: 4/4" in queued_html(4, 1)  # the list may shrink between the two reads
    assert error_html("<b>bad</b>") == '<div class="sdui-error" role="alert">&lt;b&gt;bad&lt;/b&gt;</div>'


@pytest.mark.parametrize(("refresh_ms", "seconds"),
                         [(1000, 1.0), (200, 0.2), (0, 0.1), ("x", 1.0), (99999, 5.0)])
def test_poll_interval_is_clamped(refresh_ms: Any, seconds: float) -> None:
    assert poll_interval(refresh_ms) == seconds


def test_follow_job_reports_queue_position_progress_preview_then_result(queue: JobQueue) -> None:
    release_blocker, proceed = threading.Event(), threading.Event()
    blocker = queue.submit(lambda control: release_blocker.wait(10))
    while queue.current() is not blocker:  # the worker picks it up at once
        threading.Event().wait(0.005)

    def work(control: JobControl) -> str:
        control.set_job(0, 2, 4)
        control.step(1, lambda: "preview-image")
        proceed.wait(10)
        return "RESULT"

    job = queue.submit(work)
    updates = follow_job(job, queue, poll_s=0.01)
    assert "In queue: 1/1" in next(updates).progress
    release_blocker.set()
    update = next(u for u in updates if u.preview is not None)
    assert update.preview == "preview-image" and "Batch 1/2 · Step 1/4" in update.progress
    proceed.set()
    rest = list(updates)
    assert rest[-1].result == "RESULT" and rest[-1].error is None
    assert all(u.preview is None for u in rest), "a preview is sent once, not at every poll"


def test_follow_job_turns_failures_into_messages(queue: JobQueue) -> None:
    def bad_request(control: JobControl) -> None:
        raise InvalidRequestError("width must be a multiple of 8, got 65 (try 64)")

    def crash(control: JobControl) -> None:
        raise RuntimeError("boom")

    cases = ((bad_request, "width must be a multiple of 8, got 65 (try 64)"), (crash, "RuntimeError: boom"))
    for fn, message in cases:
        updates = list(follow_job(queue.submit(fn), queue, poll_s=0.01))
        assert updates[-1].error == message and updates[-1].result is None


def test_cancelled_while_waiting_says_so(queue: JobQueue) -> None:
    release = threading.Event()
    queue.submit(lambda control: release.wait(10))
    job = queue.submit(lambda control: "never")
    assert queue.cancel(job.task_id)
    release.set()
    assert list(follow_job(job, queue, poll_s=0.01))[-1].error == "Interrupted before the job started"


def test_describe_error_keeps_our_messages_verbatim() -> None:
    assert describe_error(LookupError("checkpoint 'x' not found")) == "checkpoint 'x' not found"
    assert describe_error(ValueError("odd")) == "ValueError: odd"
