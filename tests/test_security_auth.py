"""Wrong passwords are slowed down, docs and gradio's session routes need a login
(each test failed before the fix: 300 wrong passwords were answered in 0.9 s, /docs and
/gradio_api/heartbeat answered without credentials)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from modules.access.auth_throttle import FREE_FAILURES, MAX_WAIT_S, FailureThrottle
from tests.test_api_harness import LiveServer, placeholder_checkpoint, start_live_server


@pytest.fixture(scope="module")
def api_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("api-auth")
    server = start_live_server(data, "--nowebui", "--no-hashing", "--api-auth", "alice:right",
                               ckpt=placeholder_checkpoint(data))
    yield server
    server.stop()


def test_wrong_api_passwords_back_off_and_the_right_one_gets_in_soon(api_live: LiveServer) -> None:
    with api_live.client() as c:
        codes = [c.get("/sdapi/v1/samplers", auth=("alice", f"guess{i}")).status_code for i in range(FREE_FAILURES + 1)]
        assert codes == [401] * (FREE_FAILURES + 1)
        blocked = c.get("/sdapi/v1/samplers", auth=("alice", "right"))
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
        time.sleep(float(blocked.headers["retry-after"]) + 0.1)
        assert c.get("/sdapi/v1/samplers", auth=("alice", "right")).status_code == 200
        assert c.get("/sdapi/v1/samplers", auth=("alice", "wrong")).status_code == 401  # the record was cleared


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_docs_need_api_credentials(api_live: LiveServer, path: str) -> None:
    with api_live.client() as c:
        assert c.get(path).status_code == 401
        r = c.get(path, auth=("alice", "right"))
        assert r.status_code == 200
    if path == "/openapi.json":
        assert "/sdapi/v1/txt2img" in r.json()["paths"]


def test_throttle_waits_double_but_never_beyond_the_cap() -> None:
    now = [0.0]
    throttle = FailureThrottle(clock=lambda: now[0])
    waits = []
    for _ in range(FREE_FAILURES + 12):
        throttle.failed("10.0.0.9")
        waits.append(throttle.retry_after("10.0.0.9"))
    assert waits[:FREE_FAILURES] == [0.0] * FREE_FAILURES
    assert waits[FREE_FAILURES:FREE_FAILURES + 3] == [1.0, 2.0, 4.0] and max(waits) == MAX_WAIT_S
    assert throttle.retry_after("10.0.0.10") == 0.0  # other clients are not affected
    throttle.succeeded("10.0.0.9")
    assert throttle.retry_after("10.0.0.9") == 0.0


@pytest.fixture(scope="module")
def ui_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("ui-auth")
    server = start_live_server(data, "--no-hashing", "--api", "--gradio-auth", "bob:secret",
                               ckpt=placeholder_checkpoint(data))
    yield server
    server.stop()


def test_gradio_session_routes_need_a_login(ui_live: LiveServer) -> None:
    with ui_live.client() as c:
        assert c.get("/gradio_api/heartbeat/abc123").status_code == 401
        assert c.post("/gradio_api/reset", json={"session_hash": "x", "fn_index": 0}).status_code == 401
        assert c.post("/gradio_api/cancel", json={"session_hash": "x", "fn_index": 0,
                                                  "event_id": "e"}).status_code == 401
        assert c.post("/login", data={"username": "bob", "password": "secret"}).status_code == 200
        r = c.post("/gradio_api/reset", json={"session_hash": "x", "fn_index": 0})
        assert r.status_code != 401


def test_wrong_logins_back_off(ui_live: LiveServer) -> None:
    with httpx.Client(base_url=ui_live.url, timeout=30) as c:
        codes = [c.post("/login", data={"username": "bob", "password": f"no{i}"}).status_code
                 for i in range(FREE_FAILURES + 1)]
        assert 429 not in codes
        blocked = c.post("/login", data={"username": "bob", "password": "secret"})
        assert blocked.status_code == 429 and blocked.headers["retry-after"]
        time.sleep(float(blocked.headers["retry-after"]) + 0.1)
        assert c.post("/login", data={"username": "bob", "password": "secret"}).status_code == 200




def test_wrong_method_on_an_api_path_is_405_with_the_ui_mounted(ui_live: LiveServer) -> None:
    with ui_live.client() as c:
        r = c.request("TRACE", "/sdapi/v1/txt2img")
        assert r.status_code == 405 and r.headers["allow"] == "POST"
        assert c.get("/sdapi/v1/txt2img").status_code == 405
