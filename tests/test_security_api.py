"""The API refuses what could freeze, fill or escape the server (each test failed before the fix).

A live server on 127.0.0.1 with the stub engine: the HTTP layer, validation, queue and
settings are the real ones.
"""

from __future__ import annotations

import base64
import io
import json
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.test_api_harness import LiveServer, StubEngine, assert_error_shape, placeholder_checkpoint, start_live_server

SMALL = {"width": 64, "height": 64, "steps": 2}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("api-security")
    server = start_live_server(data, "--nowebui", "--no-hashing", "--max-request-mb", "2",
                               "--queue-per-client", "2", ckpt=placeholder_checkpoint(data))
    yield server
    server.stop()


@pytest.fixture()
def client(live: LiveServer) -> Iterator[httpx.Client]:
    StubEngine(live.runtime).install()
    with live.client(timeout=60) as c:
        yield c


def png_header_only(width: int, height: int) -> str:
    """A valid PNG of the given size whose pixel data is one tiny compressed block (a bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    raw = zlib.compress(b"\x00" * 1024)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")
    return base64.b64encode(data).decode()


def png_with_text(text: str) -> str:
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", text)
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="PNG", pnginfo=info)
    return base64.b64encode(buffer.getvalue()).decode()


def test_long_infotext_is_read_fast_and_too_long_is_422(client: httpx.Client) -> None:
    start = time.monotonic()
    r = client.post("/sdapi/v1/png-info", json={"image": png_with_text("Steps: 20, " + "A" * 65536)})
    assert r.status_code == 200 and time.monotonic() - start < 5
    r = client.post("/sdapi/v1/txt2img", json={**SMALL, "infotext": "Steps: 20, " + "A" * 60000})
    assert r.status_code == 200 and time.monotonic() - start < 10
    r = client.post("/sdapi/v1/txt2img", json={**SMALL, "infotext": "Steps: 20, " + "A" * 65536})
    assert_error_shape(r, 422, "prompt_max_chars")  # the text is all prompt: over the prompt limit
    assert_error_shape(client.post("/sdapi/v1/png-info", json={"image": png_with_text("A" * 200_000)}),
                       422, "limit is 131072")


@pytest.mark.parametrize("override", [
    {"samples_filename_pattern": "/srv/victim", "save_images_add_number": False},
    {"samples_filename_pattern": "../../../../srv/x"},
    {"outdir_txt2img_samples": "/srv"}, {"outdir_samples": "../../x"}, {"outdir_txt2img_grids": "/tmp/g"},
    {"outdir_save": "/etc"},
])
def test_settings_that_would_write_outside_are_refused(client: httpx.Client, override: dict) -> None:
    for route in ("/sdapi/v1/txt2img", "/jobs/v1/txt2img"):
        r = client.post(route, json={**SMALL, "save_images": True, "override_settings": override})
        assert_error_shape(r, 422, next(iter(override)))
    assert_error_shape(client.post("/sdapi/v1/options", json=override), 422, next(iter(override)))


def test_huge_input_image_refused_from_its_header(client: httpx.Client) -> None:
    bomb = png_header_only(13000, 13000)  # 1 KB of PNG, 507 MB once decoded
    start = time.monotonic()
    r = client.post("/sdapi/v1/img2img", json={**SMALL, "init_images": [bomb] * 6})
    assert_error_shape(r, 413, "init_images[0]", "input_image_max_pixels")
    assert time.monotonic() - start < 3
    assert_error_shape(client.post("/sdapi/v1/png-info", json={"image": bomb}), 413, "pixels")


def test_request_body_size_is_bounded(client: httpx.Client) -> None:
    r = client.post("/sdapi/v1/txt2img", content=b'{"prompt": "' + b"a" * (3 << 20) + b'"}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 413 and "max-request-mb" in r.json()["detail"]


@pytest.mark.parametrize("field", ["cfg_scale", "s_churn", "s_noise", "s_tmin", "s_tmax", "s_min_uncond",
                                   "refiner_switch_at", "eta", "denoising_strength"])
def test_nan_and_infinity_are_refused(client: httpx.Client, field: str) -> None:
    for bad in ("NaN", "Infinity", "-Infinity"):
        body = json.dumps({**SMALL, "prompt": "x"})[:-1] + f', "{field}": {bad}}}'
        r = client.post("/sdapi/v1/txt2img", content=body, headers={"content-type": "application/json"})
        assert_error_shape(r, 422, field)
    body = '{"CLIP_stop_at_last_layers": NaN}'
    assert client.post("/sdapi/v1/options", content=body, headers={"content-type": "application/json"}
                       ).status_code == 422


@pytest.mark.parametrize("fields", [{"seed": 2**64}, {"subseed": 2**64 + 5}, {"seed": -2},
                                    {"infotext": "a\nSteps: 2, Seed: 99999999999999999999999, Size: 64x64"}])
def test_out_of_range_seeds_are_422_before_queueing(client: httpx.Client, fields: dict) -> None:
    for route in ("/sdapi/v1/txt2img", "/jobs/v1/txt2img"):
        assert_error_shape(client.post(route, json={**SMALL, **fields}), 422, "seed")


def test_clip_skip_1000_is_422(client: httpx.Client) -> None:
    r = client.post("/sdapi/v1/txt2img", json={**SMALL, "override_settings": {"CLIP_stop_at_last_layers": 1000}})
    assert_error_shape(r, 422, "CLIP_stop_at_last_layers", "from 1 to 12")


def test_prompt_over_the_limit_is_422(client: httpx.Client) -> None:
    r = client.post("/sdapi/v1/txt2img", json={**SMALL, "prompt": "a" * 70000})
    assert_error_shape(r, 422, "prompt is 70000 characters", "prompt_max_chars")


def test_one_client_gets_a_share_of_the_queue(client: httpx.Client, live: LiveServer) -> None:
    engine = StubEngine(live.runtime, step_s=0.2).install()
    ids = [client.post("/jobs/v1/txt2img", json={**SMALL, "steps": 5}).json()["id"] for _ in range(3)]
    r = client.post("/jobs/v1/txt2img", json=SMALL)  # one running, two waiting: the share is 2
    assert_error_shape(r, 429, "limit per client is 2")
    assert r.headers["retry-after"]
    for job_id in ids:
        client.delete(f"/jobs/v1/{job_id}")
    engine.step_s = 0


def test_error_bodies_hold_no_server_paths(tmp_path: Path) -> None:
    server = start_live_server(tmp_path, "--nowebui", "--no-hashing")  # no checkpoint at all
    try:
        with server.client() as c:
            r = c.post("/sdapi/v1/txt2img", json=SMALL)
            assert r.status_code == 503
            assert str(tmp_path) not in r.text and "Traceback" not in r.text
            assert "models/Stable-diffusion" in r.json()["detail"]
    finally:
        server.stop()


def test_interrupted_txt2img_says_so(client: httpx.Client, live: LiveServer) -> None:
    import threading

    StubEngine(live.runtime, step_s=0.05).install()
    answers: list[httpx.Response] = []
    worker = threading.Thread(target=lambda: answers.append(
        client.post("/sdapi/v1/txt2img", json={**SMALL, "steps": 10, "n_iter": 30})))
    worker.start()
    time.sleep(1.0)
    client.post("/sdapi/v1/interrupt")
    worker.join(30)
    body = answers[0].json()
    info = json.loads(body["info"])
    assert answers[0].status_code == 200 and info["interrupted"] is True
    assert 0 < len(body["images"]) < 30
