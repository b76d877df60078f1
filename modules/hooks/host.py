"""Named, versioned hook points with isolated calls.

Extensions register functions on hook points by name (`host.register("after_image", fn,
owner="my-extension")`). Each call is isolated: a function that raises is logged, recorded as a
`HookFailure` naming its owner and point, and skipped — the job and the other hooks go on. The
version lets an extension written for a newer payload shape be refused at registration instead
of failing at run time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# name -> payload version. Payload types: modules/hooks/payloads.py (job points) and
# modules/engine/guidance_hooks.py (pre_cfg: PreCFG, post_cfg: PostCFG, on_step: StepInfo).
HOOK_POINTS: dict[str, int] = {
    "before_job": 1, "after_job": 1, "pre_cfg": 1, "post_cfg": 1, "on_step": 1,
    "after_image": 1, "before_save": 1, "after_save": 1, "on_infotext_paste": 1, "on_model_loaded": 1,
    "before_batch": 1, "before_sampling": 1, "after_batch": 1, "before_paste": 1,
}


@dataclass(frozen=True)
class HookFailure:
    point: str
    owner: str
    error: str

    def message(self) -> str:
        return f"The '{self.owner}' hook on {self.point} failed and was skipped: {self.error}"


@dataclass(frozen=True)
class _Registration:
    owner: str
    fn: Callable[[Any], Any]


class HookHost:
    """The Runtime's hook points. Thread-safe registration; calls run on the caller's thread."""

    def __init__(self) -> None:
        self._hooks: dict[str, list[_Registration]] = {name: [] for name in HOOK_POINTS}
        self._failures: list[HookFailure] = []
        self._lock = threading.Lock()

    def register(self, point: str, fn: Callable[[Any], Any], *, owner: str, version: int = 1) -> None:
        if point not in HOOK_POINTS:
            raise ValueError(f"unknown hook point {point!r}; known: {', '.join(HOOK_POINTS)}")
        if version > HOOK_POINTS[point]:
            raise ValueError(f"'{owner}' wants {point} version {version}; this app offers version "
                             f"{HOOK_POINTS[point]}. Update the app or use an older version of the extension.")
        with self._lock:
            self._hooks[point].append(_Registration(owner, fn))

    def unregister_owner(self, owner: str) -> None:
        with self._lock:
            for point, regs in self._hooks.items():
                self._hooks[point] = [r for r in regs if r.owner != owner]

    def has(self, point: str) -> bool:
        return bool(self._hooks.get(point))

    def call(self, point: str, payload: Any) -> list[HookFailure]:
        """Call every function on `point` with `payload`; failures are recorded and skipped."""
        with self._lock:
            regs = list(self._hooks[point])
        failures = []
        for reg in regs:
            try:
                reg.fn(payload)
            except Exception as err:  # isolation: one extension never breaks the job for others
                failure = HookFailure(point, reg.owner, f"{type(err).__name__}: {err}")
                log.warning("%s", failure.message(), exc_info=True)
                failures.append(failure)
        with self._lock:
            self._failures += failures
        return failures

    def take_failures(self) -> list[HookFailure]:
        """Failures since the last call (the engine adds them to the job's comments)."""
        with self._lock:
            taken, self._failures = self._failures, []
        return taken


class LayeredHooks:
    """The app's hooks, then one job's own (a job's A1111 scripts): the job's run after the app's,
    so a script's `postprocess_image` sees the picture after face restoration, as in A1111.

    Quacks like HookHost for the engine (`has`, `call`, `take_failures`); registration goes to the
    job layer only, which lives as long as the job's EngineContext.
    """

    def __init__(self, base: "HookHost | LayeredHooks | None", job: HookHost | None = None) -> None:
        self.base, self.job = base, job or HookHost()

    def register(self, point: str, fn: Callable[[Any], Any], *, owner: str, version: int = 1) -> None:
        self.job.register(point, fn, owner=owner, version=version)

    def has(self, point: str) -> bool:
        return self.job.has(point) or (self.base is not None and self.base.has(point))

    def call(self, point: str, payload: Any) -> list[HookFailure]:
        failures = self.base.call(point, payload) if self.base is not None else []
        return failures + self.job.call(point, payload)

    def take_failures(self) -> list[HookFailure]:
        taken = self.base.take_failures() if self.base is not None else []
        return taken + self.job.take_failures()
