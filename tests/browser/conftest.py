"""Browser-test fixtures: the real app (runtime + FastAPI + gradio) on a free port in a thread,
and headless Debian Chromium driven by Python Playwright.

Never `playwright install`: the tests use /usr/bin/chromium and skip cleanly without it.
Screenshots go to test-artifacts/ (gitignored) so a failing run can be looked at.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
STARTUP_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    """One running app; `stop()` ends the server thread and the job worker."""

    url: str
    runtime: Any
    data_dir: Path
    server: Any
    thread: threading.Thread
    seconds_to_start: float = 0.0
    stopped: bool = field(default=False)

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.runtime.shutdown()


def start_live_server(data_dir: Path, checkpoint: Path | None, extra_args: list[str] | None = None) -> LiveServer:
    """build_runtime(parse_args([...])) + create_app + uvicorn, exactly as launch.py wires them.
    `checkpoint` None: no --ckpt and the shipped demo model, as on a fresh install."""
    import uvicorn

    from modules.cmd_args import parse_args
    from modules.runtime import build_runtime
    from modules.server import create_app

    started = time.perf_counter()
    port = free_port()
    model_args = ["--ckpt", str(checkpoint), "--no-demo-model"] if checkpoint is not None else []
    args = parse_args(["--data-dir", str(data_dir), *model_args, "--port", str(port), *(extra_args or [])],
                      environ={})
    runtime = build_runtime(args)
    app = create_app(runtime)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                          timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            runtime.shutdown()
            raise RuntimeError(f"the test server on port {port} did not start")
        time.sleep(0.05)
    return LiveServer(f"http://127.0.0.1:{port}", runtime, data_dir, server, thread,
                      time.perf_counter() - started)


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("browser tests need Debian chromium at /usr/bin/chromium (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need the playwright package")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def server_factory(tiny_sd1: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start servers on chosen data folders (tiny SD1 checkpoint via --ckpt); all stop after the test."""
    servers: list[LiveServer] = []

    def start(data_dir: Path, extra_args: list[str] | None = None) -> LiveServer:
        server = start_live_server(data_dir, tiny_sd1, extra_args)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def page(app_server: LiveServer, chromium_browser: Any) -> Iterator[Any]:
    """One page shared by a test module, on that module's own `app_server` fixture."""
    page = open_app(chromium_browser, app_server.url)
    yield page
    page.context.close()


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# Records, inside the page, the moment the Generate button first exists (ms since navigation start).
READY_PROBE = """
new MutationObserver((_, observer) => {
    if (document.getElementById("txt2img_generate")) {
        window.__sduiReadyAt = performance.now();
        observer.disconnect();
    }
}).observe(document, {childList: true, subtree: true});
"""


def open_app(browser: Any, url: str, requests: list[str] | None = None) -> Any:
    """A fresh browser context (empty cache) on the app; returns the page once txt2img is usable."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.add_init_script(READY_PROBE)
    if requests is not None:
        page.on("request", lambda r: requests.append(r.url))
    page.goto(url)
    page.wait_for_selector("#txt2img_generate", timeout=60_000)
    return page


def seconds_to_ready(page: Any) -> float:
    """Navigation start -> Generate button in the page, measured by the browser itself."""
    return float(page.evaluate("window.__sduiReadyAt")) / 1000
