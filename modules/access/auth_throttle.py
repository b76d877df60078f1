"""Back-off after repeated wrong passwords, per client address (API Basic auth and UI login).

Without it, 300 wrong API passwords took 0.9 s. After `FREE_FAILURES` failures in a row, a
client must wait before its next try: 1 s, then doubling up to `MAX_WAIT_S`; meanwhile every
try, right or wrong, gets 429 with Retry-After (answering a right password would let an
attacker keep guessing at full speed). The wait never exceeds `MAX_WAIT_S`, and a success
clears the record, so the right password is never locked out for long.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

FREE_FAILURES = 5
MAX_WAIT_S = 30.0
FORGET_AFTER_S = 600.0
MAX_CLIENTS = 10000  # records kept; the oldest are dropped beyond this


@dataclass
class _Record:
    failures: int = 0
    blocked_until: float = 0.0
    last: float = 0.0


class FailureThrottle:
    """Per-client failure counts; thread-safe. `clock` is replaceable for tests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._records: dict[str, _Record] = {}

    def retry_after(self, client: str) -> float:
        """Seconds this client must still wait before a try counts (0: go ahead)."""
        now = self._clock()
        with self._lock:
            record = self._records.get(client)
            return max(0.0, record.blocked_until - now) if record else 0.0

    def failed(self, client: str) -> None:
        now = self._clock()
        with self._lock:
            record = self._records.get(client) or _Record()
            if now - record.last > FORGET_AFTER_S:
                record = _Record()
            record.failures += 1
            record.last = now
            if record.failures > FREE_FAILURES:
                wait = min(MAX_WAIT_S, 2.0 ** (record.failures - FREE_FAILURES - 1))
                record.blocked_until = now + wait
            self._records[client] = record
            if len(self._records) > MAX_CLIENTS:
                oldest = min(self._records, key=lambda c: self._records[c].last)
                del self._records[oldest]

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._records.pop(client, None)


def retry_after_header(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, int(seconds + 0.999)))}
