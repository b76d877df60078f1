"""The refiner and the hires checkpoint over HTTP (A1111's fields), with two tiny SD1 checkpoints:
4xx naming the value for unknown names, other latent families and out-of-range `refiner_switch_at`;
a refined picture's infotext pasted back (`infotext`) gives the same picture."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from modules.model_types import ModelFamily
from tests.fixtures.tiny_models import make_tiny_checkpoint
from tests.test_api_harness import LiveServer, start_live_server

TINY = dict(prompt="a cat", steps=4, width=64, height=64, sampler_name="Euler", seed=5, cfg_scale=5)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("api-refiner")
    folder = data / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    make_tiny_checkpoint(ModelFamily.SD1, folder / "a.safetensors", seed=0)
    make_tiny_checkpoint(ModelFamily.SD1, folder / "b.safetensors", seed=1)
    make_tiny_checkpoint(ModelFamily.SDXL, folder / "xl.safetensors", seed=2)
    server = start_live_server(data, "--nowebui", ckpt=folder / "a.safetensors")
    server.runtime.checkpoints.wait_for_hashing(60)
    yield server
    server.stop()


def _post(live: LiveServer, path: str, **body: Any) -> Any:
    with live.client() as c:
        return c.post(f"/sdapi/v1/{path}", json=body)


def _pixels(body: dict) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(body["images"][0]))).convert("RGB"), dtype=np.int16)


def test_refiner_over_the_api_and_infotext_round_trip(live: LiveServer) -> None:
    plain = _post(live, "txt2img", **TINY)
    r = _post(live, "txt2img", **TINY, refiner_checkpoint="b.safetensors", refiner_switch_at=0.5)
    assert r.status_code == 200, r.text
    text = json.loads(r.json()["info"])["infotexts"][0]
    short = live.runtime.checkpoints.find("b").short_title
    assert f"Refiner: {short}" in text and "Refiner switch at: 0.5" in text
    assert np.abs(_pixels(r.json()) - _pixels(plain.json())).max() > 0
    again = _post(live, "txt2img", infotext=text)
    assert again.status_code == 200, again.text
    assert np.array_equal(_pixels(again.json()), _pixels(r.json()))
    assert Path(live.runtime.models.current.source_path).stem == "a"
    with live.client() as c:
        assert c.get("/sdapi/v1/options").json()["sd_model_checkpoint"].startswith("a.safetensors")


def test_hires_checkpoint_over_the_api(live: LiveServer) -> None:
    r = _post(live, "txt2img", **TINY, enable_hr=True, hr_scale=2, hr_second_pass_steps=2, denoising_strength=0.5,
              hr_checkpoint_name=live.runtime.checkpoints.find("b").title)
    assert r.status_code == 200, r.text
    assert "Hires checkpoint: b [" in r.json()["info"]
    same = _post(live, "txt2img", **TINY, enable_hr=True, hr_scale=2, hr_second_pass_steps=2,
                 denoising_strength=0.5, hr_checkpoint_name="Use same checkpoint")
    assert same.status_code == 200 and "Hires checkpoint" not in same.json()["info"]


def test_refiner_in_img2img_over_the_api(live: LiveServer) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buf, format="PNG")
    r = _post(live, "img2img", **TINY, init_images=[base64.b64encode(buf.getvalue()).decode()],
              denoising_strength=0.8, refiner_checkpoint="b", refiner_switch_at=0.3)
    assert r.status_code == 200, r.text
    assert "Refiner: b [" in r.json()["info"]


@pytest.mark.parametrize("body, needles", [
    ({"refiner_checkpoint": "nope"}, ["refiner_checkpoint", "'nope'", "a.safetensors", "b.safetensors"]),
    ({"enable_hr": True, "hr_checkpoint_name": "nope"}, ["hr_checkpoint_name", "'nope'", "b.safetensors"]),
    ({"refiner_checkpoint": "b", "refiner_switch_at": 1.5}, ["refiner_switch_at", "1.5"]),
    ({"refiner_checkpoint": "b", "refiner_switch_at": -1}, ["refiner_switch_at"]),
    ({"refiner_checkpoint": "xl"}, ["refiner_checkpoint", "xl.safetensors", "a.safetensors", "SDXL"]),
    ({"enable_hr": True, "hr_checkpoint_name": "xl"}, ["hr_checkpoint_name", "xl.safetensors", "SD 1.x/2.x"]),
])
def test_bad_checkpoint_fields_are_a_4xx_naming_them(live: LiveServer, body: dict, needles: list[str]) -> None:
    r = _post(live, "txt2img", **TINY, **body)
    assert 400 <= r.status_code < 500, r.text
    for needle in needles:
        assert needle in r.json()["detail"], (needle, r.text)
