"""Hires fix and SD upscale over HTTP with a real tiny model: A1111's fields, sizes, infotext,
`hr_additional_modules` accepted and ignored, pasted infotext re-enabling hires, bad input 4xx."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.fixtures.tiny_upscalers import write_tiny_esrgan
from tests.test_api_harness import LiveServer, start_live_server

TINY = dict(prompt="a cat", steps=2, width=64, height=64, sampler_name="Euler", seed=5, cfg_scale=5)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, tiny_sd1: Path) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("api-hires")
    write_tiny_esrgan(data / "models" / "ESRGAN" / "4x-tiny.safetensors")
    server = start_live_server(data, "--nowebui", "--no-hashing", ckpt=tiny_sd1)
    yield server
    server.stop()


def _image(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def _post(live: LiveServer, path: str, **body: Any) -> Any:
    with live.client() as c:
        return c.post(f"/sdapi/v1/{path}", json=body)


def test_txt2img_with_hires_fix(live: LiveServer) -> None:
    r = _post(live, "txt2img", **TINY, enable_hr=True, hr_scale=2, hr_upscaler="4x-tiny", hr_second_pass_steps=2,
              denoising_strength=0.4, hr_additional_modules=["Use same choices"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert _image(body["images"][0]).size == (128, 128)
    info = body["info"]
    for text in ("Size: 64x64", "Hires upscale: 2.0", "Hires steps: 2", "Hires upscaler: 4x-tiny",
                 "Denoising strength: 0.4"):
        assert text in info, text


def test_hires_resize_to_and_pasted_infotext(live: LiveServer) -> None:
    r = _post(live, "txt2img", **TINY, enable_hr=True, hr_resize_x=96, hr_resize_y=80, hr_second_pass_steps=1)
    assert r.status_code == 200, r.text
    assert _image(r.json()["images"][0]).size == (96, 80)
    infotext = r.json()["info"]
    import json

    text = json.loads(infotext)["infotexts"][0]
    again = _post(live, "txt2img", infotext=text, steps=2)
    assert again.status_code == 200, again.text
    assert _image(again.json()["images"][0]).size == (96, 80)  # the paste turned hires fix back on


@pytest.mark.parametrize("body, needle", [
    ({"hr_scale": 0}, "hr_scale must be between 1 and 8"),
    ({"hr_scale": 100}, "hr_scale must be between 1 and 8"),
    ({"hr_upscaler": "4x-UltraSharp"}, "4x-UltraSharp"),
    ({"hr_checkpoint_name": "other.safetensors"}, "hr_checkpoint_name"),
])
def test_bad_hires_input_is_a_4xx_and_the_server_keeps_serving(live: LiveServer, body: dict, needle: str) -> None:
    r = _post(live, "txt2img", **TINY, enable_hr=True, **body)
    assert 400 <= r.status_code < 500 and needle in r.json()["detail"], r.text
    assert _post(live, "txt2img", **TINY).status_code == 200


def test_sd_upscale_script_over_the_api(live: LiveServer) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (48, 40), (200, 30, 30)).save(buf, format="PNG")
    r = _post(live, "img2img", **TINY, init_images=[base64.b64encode(buf.getvalue()).decode()],
              denoising_strength=0.2, script_name="sd upscale", script_args=["", 16, "Lanczos", 2])
    assert r.status_code == 200, r.text
    assert _image(r.json()["images"][0]).size == (96, 80)
    assert "SD upscale upscaler: Lanczos" in r.json()["info"]
