"""A live server for API tests (real uvicorn, real HTTP) and a stub engine for mechanics tests.

`start_live_server` builds the app exactly as launch.py does (`parse_args` -> `build_runtime`
-> `create_app`) and serves it from a background thread on a free port. `StubEngine`
replaces only `runtime.generate`, so the queue, progress, interrupt and the HTTP layer are
the real ones while each "generation" costs almost nothing. The tests at the bottom check
the harness and the parts of the API that need no engine (route table, /docs, 404s).
"""

from __future__ import annotations

import base64
import io
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from PIL import Image

from modules.cmd_args import parse_args
from modules.engine.request import GenerationRequest, GenerationResult
from modules.infotext import build_infotext
from modules.jobs.progress import ImageSkipped, JobControl, JobInterrupted
from modules.runtime import Runtime, build_runtime
from modules.server import create_app


@dataclass
class LiveServer:
    url: str
    runtime: Runtime
    server: uvicorn.Server
    thread: threading.Thread

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=kwargs.pop("timeout", 120.0), **kwargs)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.runtime.shutdown()


def start_live_server(data_dir: Path, *flags: str, ckpt: Path | None = None) -> LiveServer:
    """Serve `create_app(build_runtime(flags))` on 127.0.0.1:<free port> from a thread."""
    argv = ["--data-dir", str(data_dir), "--no-demo-model", "--cpu", "--skip-install", *flags]
    if ckpt is not None:
        argv += ["--ckpt", str(ckpt)]
    runtime = build_runtime(parse_args(argv, environ={}))
    config = uvicorn.Config(create_app(runtime), host="127.0.0.1", port=0, log_level="warning",
                            timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="api-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return LiveServer(f"http://127.0.0.1:{port}", runtime, server, thread)


def placeholder_checkpoint(folder: Path) -> Path:
    """A file the registry lists (never loaded: the stub engine does not touch models)."""
    path = folder / "placeholder.safetensors"
    path.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    return path


def decode_b64_image(data: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    image.load()
    return image


def seed_colour(seed: int) -> tuple[int, int, int]:
    """The stub paints each image with a colour derived from its seed, so mix-ups show."""
    return seed % 251, (seed // 251) % 251, 7


@dataclass
class StubEngine:
    """Stands in for `Runtime.generate`: honours steps, batches, interrupt and skip, writes
    an infotext (Clip skip from the request's settings view, as the engine does) and records
    every request it ran."""

    runtime: Runtime
    step_s: float = 0.0
    requests: list[GenerationRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self) -> StubEngine:
        self.runtime.generate = self  # type: ignore[method-assign]
        return self

    def __call__(self, req: GenerationRequest, control: JobControl) -> GenerationResult:
        with self.lock:
            self.requests.append(req)
        view = self.runtime.settings.view(req.override_settings)
        base = req.seed if req.seed >= 0 else 1000
        seeds = [base + i for i in range(req.batch_size * req.n_iter)]
        images: list[Image.Image] = []
        texts: list[str] = []
        interrupted = False
        for it in range(req.n_iter):
            try:
                control.check()
                control.set_job(it, req.n_iter, req.steps)
                for step in range(1, req.steps + 1):
                    time.sleep(self.step_s)
                    control.step(step, lambda: Image.new("RGB", (8, 8), (255, 0, 0)))
            except ImageSkipped:
                continue
            except JobInterrupted:
                interrupted = True
                break
            for seed in seeds[it * req.batch_size:(it + 1) * req.batch_size]:
                clip_skip = int(view["CLIP_stop_at_last_layers"])
                text = build_infotext(req.prompt, req.negative_prompt, {
                    "Steps": req.steps, "Sampler": req.sampler_name, "Schedule type": req.scheduler,
                    "CFG scale": req.cfg_scale, "Seed": seed, "Size": f"{req.width}x{req.height}",
                    "Clip skip": clip_skip if clip_skip > 1 else None})
                image = Image.new("RGB", (req.width, req.height), seed_colour(seed))
                image.info["parameters"] = text
                images.append(image)
                texts.append(text)
        info = {"prompt": req.prompt, "seed": seeds[0], "all_seeds": seeds, "infotexts": texts,
                "index_of_first_image": 0, "width": req.width, "height": req.height,
                "sampler_name": req.sampler_name, "steps": req.steps,
                "clip_skip": int(view["CLIP_stop_at_last_layers"])}
        n = len(images)
        return GenerationResult(images=images, infotexts=texts, seeds=seeds[:n], subseeds=[],
                                prompts=[req.prompt] * n, negative_prompts=[req.negative_prompt] * n,
                                info=info, interrupted=interrupted)


def wait_until(predicate: Any, timeout: float = 30.0, interval: float = 0.01) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not reached in time")


def assert_error_shape(response: httpx.Response, status: int, *needles: str) -> dict[str, Any]:
    """A1111's error body, with the detail naming the problem."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail", "body", "errors"}, body
    assert isinstance(body["error"], str) and body["error"]
    for needle in needles:
        assert needle.lower() in str(body["detail"]).lower(), body["detail"]
    return body


# --- tests of the harness and of routes that need no engine -------------------------------------


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    data = tmp_path_factory.mktemp("api-plain")
    live = start_live_server(data, "--nowebui", "--no-hashing", ckpt=placeholder_checkpoint(data))
    yield live
    live.stop()


def test_docs_and_openapi_list_every_route(plain_server: LiveServer) -> None:
    with plain_server.client() as c:
        assert c.get("/docs").status_code == 200
        paths = c.get("/openapi.json").json()["paths"]
    for route in ("txt2img", "img2img", "progress", "interrupt", "skip", "options", "cmd-flags", "samplers",
                  "schedulers", "upscalers", "latent-upscale-modes", "sd-models", "sd-vae", "prompt-styles",
                  "embeddings", "loras", "hypernetworks", "face-restorers", "realesrgan-models", "png-info",
                  "refresh-checkpoints", "refresh-vae", "refresh-embeddings", "refresh-loras", "memory",
                  "scripts", "script-info", "extensions", "unload-checkpoint", "reload-checkpoint",
                  "interrogate", "extra-single-image", "extra-batch-images"):
        assert f"/sdapi/v1/{route}" in paths, route
    for route in ("/jobs/v1/txt2img", "/jobs/v1/img2img", "/jobs/v1/{job_id}", "/jobs/v1/{job_id}/preview",
                  "/internal/progress", "/internal/pending-tasks", "/internal/ping"):
        assert route in paths, route
    assert "/sdapi/v1/server-stop" not in paths


def test_server_stop_routes_are_404_without_the_flag(plain_server: LiveServer) -> None:
    with plain_server.client() as c:
        for route in ("server-stop", "server-restart", "server-kill"):
            assert_error_shape(c.post(f"/sdapi/v1/{route}"), 404)


def test_every_response_has_process_time_header(plain_server: LiveServer) -> None:
    with plain_server.client() as c:
        response = c.get("/internal/ping")
    assert response.status_code == 200 and response.json() == {}
    assert float(response.headers["X-Process-Time"]) >= 0


def test_api_log_and_server_stop_flags(tmp_path_factory: pytest.TempPathFactory,
                                       capfd: pytest.CaptureFixture[str]) -> None:
    data = tmp_path_factory.mktemp("api-flags")
    live = start_live_server(data, "--nowebui", "--no-hashing", "--api-log", "--api-server-stop",
                             ckpt=placeholder_checkpoint(data))
    try:
        with live.client() as c:
            assert c.get("/sdapi/v1/cmd-flags").json()["api_log"] is True
            paths = c.get("/openapi.json").json()["paths"]
    finally:
        live.stop()
    assert {"/sdapi/v1/server-stop", "/sdapi/v1/server-restart", "/sdapi/v1/server-kill"} <= set(paths)
    out = capfd.readouterr().out
    lines = out.splitlines()
    assert any(line.startswith("API ") and " 200 GET /sdapi/v1/cmd-flags " in line for line in lines)
    assert "/openapi.json" not in out


def test_no_checkpoint_is_a_503_saying_where_to_put_one(tmp_path_factory: pytest.TempPathFactory) -> None:
    live = start_live_server(tmp_path_factory.mktemp("api-empty"), "--nowebui", "--no-hashing")
    try:
        with live.client() as c:
            response = c.post("/sdapi/v1/txt2img", json={"prompt": "x", "steps": 1})
            assert_error_shape(response, 503, "no checkpoint found", "Stable-diffusion")
            assert c.get("/sdapi/v1/sd-models").json() == []
            assert c.get("/sdapi/v1/options").json()["sd_model_checkpoint"] is None
            assert_error_shape(c.post("/jobs/v1/txt2img", json={}), 503, "no checkpoint found")
    finally:
        live.stop()
