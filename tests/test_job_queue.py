"""One FIFO worker: order, positions, errors, interrupt, cancel, task ids."""

import re
import threading
import time

import pytest

from modules.jobs.progress import JobInterrupted
from modules.jobs.queue import CANCELLED, DONE, FAILED, JobQueue, new_task_id


def test_task_id_shape():
    assert re.fullmatch(r"task\(txt2img-[A-Z0-9]{7}\)", new_task_id("txt2img"))


def test_fifo_order_and_positions():
    q = JobQueue()
    gate, running = threading.Event(), threading.Event()
    order = []
    first = q.submit(lambda c: (running.set(), gate.wait(5), order.append(1)), kind="a")
    assert running.wait(5)  # the worker has taken the first job
    second = q.submit(lambda c: order.append(2), kind="b")
    third = q.submit(lambda c: order.append(3), kind="c")
    assert q.position(second.task_id) == 1 and q.position(third.task_id) == 2
    assert q.current() is first
    gate.set()
    third.wait(5)
    assert order == [1, 2, 3] and second.status == DONE


def test_errors_reach_the_caller_and_worker_survives():
    q = JobQueue()
    bad = q.submit(lambda c: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        bad.wait(5)
    assert bad.status == FAILED
    assert q.run(lambda c: 42, timeout=5) == 42


def test_interrupt_running_and_cancel_queued():
    q = JobQueue()
    started = threading.Event()

    def long_job(control):
        started.set()
        for step in range(1000):
            control.step(step)
            time.sleep(0.005)
        return "finished"

    running = q.submit(long_job)
    queued = q.submit(lambda c: "never")
    started.wait(5)
    assert q.cancel(queued.task_id)
    assert queued.status == CANCELLED
    q.interrupt_current()
    with pytest.raises(JobInterrupted):
        running.wait(5)


def test_forced_task_id_is_kept_and_unique_while_pending():
    q = JobQueue()
    gate = threading.Event()
    job = q.submit(lambda c: gate.wait(5), task_id="task(mine)")
    assert q.get("task(mine)") is job
    with pytest.raises(ValueError):
        q.submit(lambda c: None, task_id="task(mine)")
    gate.set()
    job.wait(5)


def test_progress_formula_matches_a1111():
    q = JobQueue()
    seen = {}

    def job(control):
        control.set_job(1, 4, 20)
        control.step(10)
        seen["snap"] = control.snapshot()

    q.run(job, timeout=5)
    snap = seen["snap"]
    assert snap.fraction == pytest.approx(0.01 + 1 / 4 + 0.25 * 0.5)
