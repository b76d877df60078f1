"""Fields an API request leaves out take the model's recommended values (the demo model's size,
steps, CFG and sampler; 1024x1024 for SDXL); sent values and infotext values win; the answer's
info says what was filled. Steps above the UI's 150 are accepted up to `max_sampling_steps`, and
such a long run stops at once on interrupt."""

from __future__ import annotations

import json
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modules.api.errors import ApiError
from modules.api.models import Txt2ImgBody
from modules.api.request_mapping import prepare
from modules.models.registry import CheckpointRegistry
from tests.test_api_harness import LiveServer, start_live_server, wait_until

DEMO_JSON = {"width": 96, "height": 64, "steps": 12, "cfg_scale": 4.5, "sampler_name": "DDIM"}


def make_demo(folder: Path, tiny_sd1: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    demo = folder / "demo-shapes.safetensors"
    demo.write_bytes(tiny_sd1.read_bytes())
    demo.with_suffix(".yaml").write_bytes(tiny_sd1.with_suffix(".yaml").read_bytes())
    demo.with_suffix(".json").write_text(json.dumps({**DEMO_JSON, "prompt": "a red circle"}))
    return demo


def sdxl_header_only(folder: Path) -> Path:
    """A safetensors file whose header names SDXL's second text encoder (never loaded here)."""
    header = json.dumps({"conditioner.embedders.1.model.ln_final.weight":
                         {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    path = folder / "xl-base.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0\0\0\0")
    return path


def use_checkpoints(runtime: Any, demo: Path | None, extra: list[Path]) -> None:
    runtime.checkpoints = CheckpointRegistry(search_dirs=[], extra_files=extra, demo_checkpoint=demo,
                                             hashing_enabled=False)
    runtime.checkpoints.refresh()
    runtime.settings.update({"sd_model_checkpoint": ""})


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, tiny_sd1: Path) -> Iterator[LiveServer]:
    server = start_live_server(tmp_path_factory.mktemp("api-model-defaults"), "--nowebui", ckpt=tiny_sd1)
    yield server
    server.stop()


@pytest.fixture()
def demo_runtime(live: LiveServer, tmp_path: Path, tiny_sd1: Path) -> Iterator[Any]:
    saved = live.runtime.checkpoints
    use_checkpoints(live.runtime, make_demo(tmp_path / "demo", tiny_sd1), [])
    yield live.runtime
    live.runtime.checkpoints = saved


def test_prompt_only_request_on_the_demo_model_uses_its_values(live: LiveServer, demo_runtime: Any) -> None:
    with live.client() as client:
        response = client.post("/sdapi/v1/txt2img", json={"prompt": "a red circle on a blue background"})
    assert response.status_code == 200, response.text
    body = response.json()
    info = json.loads(body["info"])
    assert info["model_defaults"] == DEMO_JSON
    assert (info["width"], info["height"], info["steps"], info["cfg_scale"]) == (96, 64, 12, 4.5)
    assert info["sampler_name"] == "DDIM" and body["parameters"]["steps"] == 12
    assert "Steps: 12, Sampler: DDIM" in info["infotexts"][0]


def test_sent_and_infotext_values_win_over_the_model_values(demo_runtime: Any) -> None:
    sent = prepare(Txt2ImgBody(prompt="x", steps=3, width=128, sampler_index="Euler"), demo_runtime, "txt2img")
    assert (sent.request.steps, sent.request.width, sent.request.height) == (3, 128, 64)
    assert sent.request.sampler_name == "Euler" and sent.model_defaults == {"height": 64, "cfg_scale": 4.5}
    pasted = prepare(Txt2ImgBody(infotext="cat\nSteps: 7, Sampler: Euler a, CFG scale: 6, Size: 64x128"),
                     demo_runtime, "txt2img")
    assert (pasted.request.steps, pasted.request.cfg_scale, pasted.request.height) == (7, 6.0, 128)
    assert pasted.model_defaults == {}


def test_sdxl_checkpoint_defaults_to_1024_and_sd1_keeps_a1111_defaults(live: LiveServer, tmp_path: Path,
                                                                      tiny_sd1: Path) -> None:
    runtime, saved = live.runtime, live.runtime.checkpoints
    try:
        use_checkpoints(runtime, None, [sdxl_header_only(tmp_path)])
        xl = prepare(Txt2ImgBody(prompt="x"), runtime, "txt2img")
        assert (xl.request.width, xl.request.height, xl.request.steps) == (1024, 1024, 50)
        assert xl.model_defaults == {"width": 1024, "height": 1024}
    finally:
        runtime.checkpoints = saved
    sd1 = prepare(Txt2ImgBody(prompt="x"), runtime, "txt2img")
    assert (sd1.request.width, sd1.request.steps, sd1.request.cfg_scale) == (512, 50, 7.0)
    assert sd1.model_defaults == {}


def test_steps_above_150_accepted_up_to_the_setting(live: LiveServer) -> None:
    runtime = live.runtime
    assert prepare(Txt2ImgBody(prompt="x", steps=400), runtime, "txt2img").request.steps == 400
    with pytest.raises(ApiError) as refused:
        prepare(Txt2ImgBody(prompt="x", steps=1001), runtime, "txt2img")
    assert refused.value.status_code == 422 and "max_sampling_steps" in str(refused.value)
    runtime.settings.update({"max_sampling_steps": 2000})
    try:
        assert prepare(Txt2ImgBody(prompt="x", steps=1500), runtime, "txt2img").request.steps == 1500
    finally:
        runtime.settings.update({"max_sampling_steps": 1000})


def test_a_long_api_run_stops_at_once_on_interrupt(live: LiveServer) -> None:
    out: dict[str, Any] = {}

    def run() -> None:
        with live.client() as c:
            out["r"] = c.post("/sdapi/v1/txt2img", json={"prompt": "x", "width": 64, "height": 64, "steps": 1000})

    thread = threading.Thread(target=run)
    thread.start()
    with live.client() as client:
        wait_until(lambda: client.get("/sdapi/v1/progress").json()["state"]["sampling_step"] >= 2, timeout=120)
        assert client.get("/sdapi/v1/progress").json()["state"]["sampling_steps"] == 1000
        asked = time.monotonic()
        client.post("/sdapi/v1/interrupt")
        thread.join(60)
    assert time.monotonic() - asked < 10
    assert out["r"].status_code == 200
    assert json.loads(out["r"].json()["info"])["steps"] == 1000

