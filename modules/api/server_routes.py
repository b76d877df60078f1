"""server-stop / server-restart / server-kill: mounted only with `--api-server-stop` (else 404).

The action runs shortly after the answer is sent, so the client sees its 200. Stop asks uvicorn
to shut down gracefully (SIGINT); restart re-executes the same command line in this process;
kill exits at once.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable

from fastapi import APIRouter

from modules.runtime import Runtime

DELAY_S = 0.5


def _later(action: Callable[[], None]) -> None:
    timer = threading.Timer(DELAY_S, action)
    timer.daemon = True
    timer.start()


def _stop(runtime: Runtime) -> None:
    runtime.shutdown()
    os.kill(os.getpid(), signal.SIGINT)


def _restart(runtime: Runtime) -> None:
    runtime.shutdown()
    os.execv(sys.executable, [sys.executable, *sys.argv])


def server_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(tags=["server"])

    @router.post("/server-kill")
    def server_kill() -> dict[str, str]:
        """Exit the process at once (running jobs are lost)."""
        _later(lambda: os._exit(0))
        return {"status": "killing"}

    @router.post("/server-restart")
    def server_restart() -> dict[str, str]:
        """Start the same command line again in this process."""
        _later(lambda: _restart(runtime))
        return {"status": "restarting"}

    @router.post("/server-stop")
    def server_stop() -> dict[str, str]:
        """Shut down gracefully."""
        _later(lambda: _stop(runtime))
        return {"status": "stopping"}

    return router
