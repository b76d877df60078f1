"""The A1111 API's mechanics over real HTTP, with a stub engine (see test_api_harness.py).

Everything except the pixels is real: request models and defaults, name resolution,
override_settings isolation, infotext filling, the shared FIFO queue, progress, interrupt,
the error shapes, auth, and the asynchronous job API. The engine itself is exercised by
test_api_generation.py with a tiny checkpoint.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.test_api_harness import (
    LiveServer,
    StubEngine,
    assert_error_shape,
    decode_b64_image,
    placeholder_checkpoint,
    seed_colour,
    start_live_server,
    wait_until,
)

SMALL = {"width": 64, "height": 64, "steps": 2}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("api-mech")
    styles = 'name,prompt,negative_prompt\ncinematic,"{prompt}, cinematic light",blurry\n'
    (data / "styles.csv").write_text(styles, encoding="utf-8")
    server = start_live_server(data, "--nowebui", "--no-hashing", ckpt=placeholder_checkpoint(data))
    yield server
    server.stop()


@pytest.fixture()
def engine(live: LiveServer) -> StubEngine:
    return StubEngine(live.runtime).install()


@pytest.fixture()
def client(live: LiveServer) -> Iterator[httpx.Client]:
    with live.client() as c:
        yield c


@pytest.fixture()
def previews_every_step(client: httpx.Client) -> Iterator[None]:
    client.post("/sdapi/v1/options", json={"show_progress_every_n_steps": 1})
    yield
    client.post("/sdapi/v1/options", json={"show_progress_every_n_steps": 10})


def txt2img(client: httpx.Client, **body: Any) -> httpx.Response:
    return client.post("/sdapi/v1/txt2img", json=body)


# --- request defaults and the response shape ----------------------------------------------


def test_txt2img_api_defaults_reach_the_engine(client: httpx.Client, engine: StubEngine) -> None:
    r = txt2img(client, prompt="a red cube")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"images", "parameters", "info"}
    req = engine.requests[-1]
    assert (req.steps, req.sampler_name, req.scheduler, req.cfg_scale) == (50, "Euler", "Automatic", 7.0)
    assert (req.width, req.height, req.batch_size, req.n_iter) == (512, 512, 1, 1)
    assert req.save_images is False and req.save_grid is False and req.mode == "txt2img"
    params = body["parameters"]
    assert params["steps"] == 50 and params["sampler_index"] == "Euler" and params["sampler_name"] is None
    assert params["send_images"] is True and params["save_images"] is False
    assert params["denoising_strength"] is None
    info = json.loads(body["info"])
    assert isinstance(body["info"], str) and info["all_seeds"] == [1000]
    image = decode_b64_image(body["images"][0])
    assert image.format == "PNG" and image.size == (512, 512)
    assert image.info["parameters"] == info["infotexts"][0]
    assert not body["images"][0].startswith("data:")


def test_send_images_false_and_unknown_keys_ignored(client: httpx.Client, engine: StubEngine) -> None:
    r = txt2img(client, **SMALL, send_images=False, no_such_field=123, steps_typo=9)
    assert r.status_code == 200 and r.json()["images"] == []
    assert "no_such_field" not in r.json()["parameters"]


def test_null_means_default(client: httpx.Client, engine: StubEngine) -> None:
    r = txt2img(client, steps=None, width=64, height=64, cfg_scale=None)
    assert r.status_code == 200, r.text
    assert (engine.requests[-1].steps, engine.requests[-1].cfg_scale) == (50, 7.0)


@pytest.mark.parametrize(("sent", "expected"), [
    ({"sampler_name": "DPM++ 2M Karras"}, ("DPM++ 2M", "Automatic")),
    ({"sampler_name": "Euler a", "scheduler": "karras"}, ("Euler a", "Karras")),
    ({"sampler_index": "k_euler_a"}, ("Euler a", "Automatic")),
    ({"sampler_name": "DDIM", "sampler_index": "Heun"}, ("DDIM", "Automatic")),
])
def test_sampler_names_resolve(client: httpx.Client, engine: StubEngine, sent: dict, expected: tuple) -> None:
    assert txt2img(client, **SMALL, **sent).status_code == 200
    assert (engine.requests[-1].sampler_name, engine.requests[-1].scheduler) == expected


def test_save_images_turns_on_saving_and_grid(client: httpx.Client, engine: StubEngine) -> None:
    assert txt2img(client, **SMALL, save_images=True, force_task_id="task(save-check)").status_code == 200
    req = engine.requests[-1]
    assert req.save_images is True and req.save_grid is True and req.task_id == "task(save-check)"


# --- override_settings and infotext -------------------------------------------------------


def test_override_settings_apply_to_one_request_only(client: httpx.Client, engine: StubEngine) -> None:
    r = txt2img(client, **SMALL, seed=5, override_settings={"CLIP_stop_at_last_layers": 2})
    assert r.status_code == 200
    assert "Clip skip: 2" in json.loads(r.json()["info"])["infotexts"][0]
    assert dict(engine.requests[-1].override_settings) == {"CLIP_stop_at_last_layers": 2}
    assert client.get("/sdapi/v1/options").json()["CLIP_stop_at_last_layers"] == 1
    r2 = txt2img(client, **SMALL, seed=6)
    assert "Clip skip" not in json.loads(r2.json()["info"])["infotexts"][0]
    assert dict(engine.requests[-1].override_settings) == {}


def test_override_settings_kept_when_restore_afterwards_is_false(client: httpx.Client, engine: StubEngine,
                                                                  live: LiveServer) -> None:
    try:
        r = txt2img(client, **SMALL, override_settings={"eta_noise_seed_delta": 31337},
                    override_settings_restore_afterwards=False)
        assert r.status_code == 200
        assert client.get("/sdapi/v1/options").json()["eta_noise_seed_delta"] == 31337
        saved = json.loads((live.runtime.paths.settings_file).read_text())
        assert saved["eta_noise_seed_delta"] == 31337
    finally:
        client.post("/sdapi/v1/options", json={"eta_noise_seed_delta": 0})


def test_infotext_fills_fields_the_client_did_not_send(client: httpx.Client, engine: StubEngine) -> None:
    infotext = ("a blue sphere\nNegative prompt: blurry\nSteps: 7, Sampler: Euler a, Schedule type: Karras, "
                "CFG scale: 5.5, Seed: 42, Size: 64x128, Clip skip: 2")
    r = txt2img(client, infotext=infotext, steps=3)
    assert r.status_code == 200, r.text
    req = engine.requests[-1]
    assert (req.prompt, req.negative_prompt, req.steps, req.seed) == ("a blue sphere", "blurry", 3, 42)
    assert (req.width, req.height, req.cfg_scale) == (64, 128, 5.5)
    assert (req.sampler_name, req.scheduler) == ("Euler a", "Karras")
    assert dict(req.override_settings) == {"CLIP_stop_at_last_layers": 2}
    params = r.json()["parameters"]
    assert params["prompt"] == "a blue sphere" and params["seed"] == 42 and params["steps"] == 3


def test_styles_reach_the_engine_and_infotext_extracts_them(client: httpx.Client, engine: StubEngine) -> None:
    assert txt2img(client, **SMALL, prompt="a cat", styles=["cinematic"]).status_code == 200
    assert engine.requests[-1].styles == ("cinematic",) and engine.requests[-1].prompt == "a cat"
    pasted = "a dog, cinematic light\nNegative prompt: blurry\nSteps: 2, Seed: 4, CFG scale: 7"
    assert txt2img(client, width=64, height=64, infotext=pasted).status_code == 200
    req = engine.requests[-1]
    assert (req.prompt, req.negative_prompt, req.styles) == ("a dog", "", ("cinematic",))


def test_client_override_beats_infotext_setting(client: httpx.Client, engine: StubEngine) -> None:
    r = txt2img(client, **SMALL, infotext="x\nSteps: 2, Seed: 1, Clip skip: 2",
                override_settings={"CLIP_stop_at_last_layers": 3})
    assert r.status_code == 200
    assert dict(engine.requests[-1].override_settings) == {"CLIP_stop_at_last_layers": 3}


# --- errors: A1111's JSON shape, 4xx for bad input, and the server keeps serving ------------


@pytest.mark.parametrize(("path", "body", "status", "needles"), [
    ("/sdapi/v1/txt2img", {"steps": "many"}, 422, ["steps"]),
    ("/sdapi/v1/txt2img", {"width": 65, "height": 64, "steps": 1}, 422, ["width", "multiple of 8"]),
    ("/sdapi/v1/txt2img", {"width": 4096, "steps": 1}, 422, ["width", "2048"]),
    ("/sdapi/v1/txt2img", {"steps": 0}, 422, ["steps"]),
    ("/sdapi/v1/txt2img", {"sampler_name": "Euler z"}, 422, ["Euler z", "Valid samplers"]),
    ("/sdapi/v1/txt2img", {"scheduler": "wobbly"}, 422, ["wobbly"]),
    ("/sdapi/v1/txt2img", {"styles": ["nope"]}, 422, ["nope"]),
    ("/sdapi/v1/txt2img", {"script_name": "x/y/z plot"}, 422, ["Script 'x/y/z plot' not found"]),
    ("/sdapi/v1/txt2img", {"alwayson_scripts": {"adetailer": {"args": []}}}, 422, ["adetailer"]),
    ("/sdapi/v1/txt2img", {"override_settings": {"no_such_option": 1}}, 422, ["no_such_option"]),
    ("/sdapi/v1/txt2img", {"override_settings": {"CLIP_stop_at_last_layers": "two"}}, 422,
     ["CLIP_stop_at_last_layers"]),
    ("/sdapi/v1/txt2img", {"override_settings": {"sd_model_checkpoint": "missing.safetensors"}}, 422,
     ["missing.safetensors", "sd-models"]),
    ("/sdapi/v1/txt2img", {"override_settings": {"sd_vae": "kl-f8-anime2.safetensors"}}, 422,
     ["sd_vae", "kl-f8-anime2.safetensors", "sd-vae"]),
    ("/sdapi/v1/options", {"sd_vae": "kl-f8-anime2.safetensors"}, 422, ["sd_vae", "not found"]),
    ("/sdapi/v1/txt2img", {"infotext": "x\nSteps: lots, Seed: 1, CFG scale: 7"}, 422, ["Steps"]),
    ("/sdapi/v1/txt2img", {"enable_hr": True, "hr_scale": 0}, 422, ["hr_scale", "between 1 and 8"]),
    ("/sdapi/v1/txt2img", {"enable_hr": True, "hr_scale": 100}, 422, ["hr_scale", "between 1 and 8"]),
    ("/sdapi/v1/txt2img", {"enable_hr": True, "hr_upscaler": "4x-Nope"}, 422, ["hr_upscaler", "4x-Nope"]),
    ("/sdapi/v1/txt2img", {"enable_hr": True, "hr_sampler_name": "Euler z"}, 422, ["Euler z"]),
    ("/sdapi/v1/txt2img", {"restore_faces": True}, 422, ["restore_faces", "no CodeFormer model"]),
    ("/sdapi/v1/txt2img", {"force_task_id": "task(x)", "steps": 1, "n_iter": 1000}, 422, ["at most"]),
    ("/sdapi/v1/img2img", {"prompt": "x"}, 422, ["init_images"]),
    ("/sdapi/v1/img2img", {"init_images": ["%%%not base64%%%"]}, 400, ["init_images[0]", "base64"]),
    ("/sdapi/v1/img2img", {"init_images": ["aGVsbG8gd29ybGQ="]}, 400, ["init_images[0]", "is not an image"]),
    ("/sdapi/v1/img2img", {"init_images": ["http://example.com/a.png"]}, 400, ["URLs"]),
    ("/sdapi/v1/img2img", {"init_images": ["aGVsbG8="], "inpainting_fill": 7}, 422, ["inpainting_fill"]),
    ("/sdapi/v1/png-info", {"image": "!!!"}, 400, ["base64"]),
    ("/sdapi/v1/options", {"no_such_option": 1}, 422, ["no_such_option"]),
    ("/sdapi/v1/options", {"sd_model_checkpoint": "nope.ckpt"}, 422, ["nope.ckpt"]),
    ("/sdapi/v1/interrogate", {"image": "", "model": "clip"}, 400, ["image", "empty"]),
    ("/sdapi/v1/extra-single-image", {"image": ""}, 422, ["image", "no picture"]),
    ("/sdapi/v1/extra-batch-images", {"imageList": []}, 422, ["imageList", "no pictures"]),
    ("/jobs/v1/txt2img", {"sampler_name": "Euler z"}, 422, ["Euler z"]),
])
def test_bad_requests_get_a_clear_4xx(client: httpx.Client, engine: StubEngine, path: str, body: dict,
                                      status: int, needles: list[str]) -> None:
    n_before = len(engine.requests)
    response = client.post(path, json=body)
    error = assert_error_shape(response, status, *needles)
    assert len(engine.requests) == n_before, "a refused request must never reach the engine"
    if status == 422 and "steps" in body and body["steps"] == "many":
        assert error["body"] == body and error["error"] == "RequestValidationError"
    assert client.get("/sdapi/v1/progress").status_code == 200


def test_malformed_json_is_a_422_with_the_body(client: httpx.Client) -> None:
    r = client.post("/sdapi/v1/txt2img", content=b"{not json", headers={"content-type": "application/json"})
    assert_error_shape(r, 422, "JSON")


def test_engine_failure_is_a_500_and_the_server_keeps_serving(client: httpx.Client, live: LiveServer) -> None:
    def broken(req: Any, control: Any) -> Any:
        raise RuntimeError("the GPU caught fire")

    live.runtime.generate = broken  # type: ignore[method-assign]
    assert_error_shape(txt2img(client, **SMALL), 500, "caught fire")
    StubEngine(live.runtime).install()
    assert txt2img(client, **SMALL).status_code == 200


@pytest.mark.parametrize("route", ["create/embedding", "train/hypernetwork"])
def test_missing_features_answer_501_naming_them(client: httpx.Client, route: str) -> None:
    body = assert_error_shape(client.post(f"/sdapi/v1/{route}", json={}), 501, "not available")
    assert body["error"] == "ApiError"


# --- the queue: concurrency, progress, interrupt, skip ------------------------------------


def test_twenty_concurrent_clients_get_their_own_images(live: LiveServer, engine: StubEngine) -> None:
    engine.step_s = 0.002
    results: dict[int, httpx.Response] = {}

    def one(seed: int) -> None:
        with live.client() as c:
            results[seed] = txt2img(c, **SMALL, seed=seed, prompt=f"p{seed}")

    threads = [threading.Thread(target=one, args=(100 + i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == list(range(100, 120))
    for seed, response in results.items():
        assert response.status_code == 200, response.text
        info = json.loads(response.json()["info"])
        assert info["all_seeds"] == [seed] and info["prompt"] == f"p{seed}"
        assert decode_b64_image(response.json()["images"][0]).getpixel((0, 0)) == seed_colour(seed)


def test_progress_idle_shape(client: httpx.Client) -> None:
    body = client.get("/sdapi/v1/progress").json()
    assert body["progress"] == 0 and body["eta_relative"] == 0 and body["current_image"] is None
    assert body["state"] == {"skipped": False, "interrupted": False, "stopping_generation": False, "job": "",
                             "job_count": 0, "job_timestamp": "0", "job_no": 0, "sampling_step": 0,
                             "sampling_steps": 0}


def background_txt2img(live: LiveServer, out: dict[str, Any], **body: Any) -> threading.Thread:
    def run() -> None:
        with live.client() as c:
            out["response"] = txt2img(c, **body)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.usefixtures("previews_every_step")
def test_progress_while_running_and_interrupt(live: LiveServer, client: httpx.Client,
                                              engine: StubEngine) -> None:
    engine.step_s = 0.02
    out: dict[str, Any] = {}
    thread = background_txt2img(live, out, width=64, height=64, steps=5, n_iter=20, seed=7,
                                force_task_id="task(progress-check)")
    body = wait_until(lambda: (b := client.get("/sdapi/v1/progress").json())["state"]["job_no"] >= 1 and b)
    state = body["state"]
    assert state["job"] == "txt2img" and state["job_count"] == 20 and state["sampling_steps"] == 5
    assert 0.01 < body["progress"] < 1 and body["eta_relative"] > 0
    assert body["current_task"] == "task(progress-check)"
    assert decode_b64_image(body["current_image"]).size == (8, 8)
    skipped = client.get("/sdapi/v1/progress", params={"skip_current_image": True}).json()
    assert skipped["current_image"] is None
    ask = {"id_task": "task(progress-check)", "id_live_preview": -1}
    internal = client.post("/internal/progress", json=ask).json()
    assert internal["active"] is True and internal["queued"] is False and internal["completed"] is False
    assert internal["live_preview"].startswith("data:image/png;base64,") and internal["id_live_preview"] >= 1
    assert 0 < internal["progress"] < 1
    assert client.post("/sdapi/v1/interrupt").json() == {}
    thread.join(30)
    response = out["response"]
    assert response.status_code == 200
    n_images = len(response.json()["images"])
    assert 1 <= n_images < 20
    after = client.post("/internal/progress", json={"id_task": "task(progress-check)"}).json()
    assert after["completed"] is True and after["active"] is False and after["textinfo"] == "Waiting..."


def test_skip_returns_null_and_drops_only_the_current_batch(live: LiveServer, client: httpx.Client,
                                                            engine: StubEngine) -> None:
    engine.step_s = 0.05
    out: dict[str, Any] = {}
    thread = background_txt2img(live, out, width=64, height=64, steps=4, n_iter=3, seed=1)
    wait_until(lambda: client.get("/sdapi/v1/progress").json()["state"]["sampling_step"] >= 1)
    skip = client.post("/sdapi/v1/skip")
    assert skip.status_code == 200 and skip.json() is None
    thread.join(30)
    assert len(out["response"].json()["images"]) == 2


def test_queue_positions_and_pending_tasks(live: LiveServer, client: httpx.Client,
                                           engine: StubEngine) -> None:
    engine.step_s = 0.05
    first: dict[str, Any] = {}
    second: dict[str, Any] = {}
    t1 = background_txt2img(live, first, **SMALL, n_iter=4, force_task_id="task(first)")
    wait_until(lambda: client.get("/sdapi/v1/progress").json()["current_task"] == "task(first)")
    t2 = background_txt2img(live, second, **SMALL, force_task_id="task(second)")
    pending = wait_until(lambda: (p := client.get("/internal/pending-tasks").json())["size"] == 1 and p)
    assert pending["tasks"] == ["task(second)"]
    queued = client.post("/internal/progress", json={"id_task": "task(second)"}).json()
    assert queued == {"active": False, "queued": True, "completed": False, "progress": None, "eta": None,
                      "live_preview": None, "id_live_preview": -1, "textinfo": "In queue: 1/1"}
    t1.join(30)
    t2.join(30)
    assert first["response"].status_code == 200 and second["response"].status_code == 200


def test_duplicate_forced_task_id_is_a_409(live: LiveServer, client: httpx.Client,
                                           engine: StubEngine) -> None:
    engine.step_s = 0.05
    out: dict[str, Any] = {}
    thread = background_txt2img(live, out, **SMALL, n_iter=3, force_task_id="task(dup)")
    wait_until(lambda: client.get("/sdapi/v1/progress").json()["current_task"] == "task(dup)")
    assert_error_shape(txt2img(client, **SMALL, force_task_id="task(dup)"), 409, "task(dup)")
    thread.join(30)


# --- the asynchronous job API -------------------------------------------------------------


def test_async_job_submit_poll_result(client: httpx.Client, engine: StubEngine) -> None:
    r = client.post("/jobs/v1/txt2img", json={**SMALL, "seed": 77, "prompt": "async"})
    assert r.status_code == 202
    submitted = r.json()
    assert submitted["id"].startswith("task(txt2img-")
    assert submitted["status"] in ("queued", "running", "done")
    url = f"/jobs/v1/{submitted['id']}"
    job = wait_until(lambda: (j := client.get(url).json())["status"] == "done" and j)
    assert job["progress"] == 1.0 and job["error"] is None and job["position"] is None
    assert job["interrupted"] is False
    assert job["created_at"] <= job["started_at"] <= job["finished_at"]
    result = job["result"]
    assert set(result) == {"images", "parameters", "info"}
    assert json.loads(result["info"])["all_seeds"] == [77]
    assert decode_b64_image(result["images"][0]).getpixel((0, 0)) == seed_colour(77)
    assert submitted["id"] in [j["id"] for j in client.get("/jobs/v1").json()]


@pytest.mark.usefixtures("previews_every_step")
def test_async_job_cancel_queued_and_running(client: httpx.Client, engine: StubEngine) -> None:
    engine.step_s = 0.03
    running = client.post("/jobs/v1/txt2img", json={**SMALL, "steps": 5, "n_iter": 20}).json()["id"]
    queued = client.post("/jobs/v1/txt2img", json=SMALL).json()
    assert queued["status"] == "queued" and queued["position"] == 1
    wait_until(lambda: client.get(f"/jobs/v1/{running}").json()["status"] == "running")
    preview = wait_until(lambda: (p := client.get(f"/jobs/v1/{running}/preview")).status_code == 200 and p)
    assert preview.headers["content-type"] == "image/png" and preview.content.startswith(b"\x89PNG")
    assert client.delete(f"/jobs/v1/{queued['id']}").json()["status"] == "cancelled"
    assert client.delete(f"/jobs/v1/{running}").status_code == 200
    done = wait_until(lambda: (j := client.get(f"/jobs/v1/{running}").json())["finished_at"] and j)
    assert done["status"] == "cancelled" and len(done["result"]["images"]) < 20
    assert done["interrupted"] is True
    gone = client.get(f"/jobs/v1/{queued['id']}").json()
    assert gone["status"] == "cancelled" and gone["result"] is None and gone["started_at"] is None
    assert_error_shape(client.delete(f"/jobs/v1/{running}"), 409, "already finished")


def test_async_job_unknown_id_and_missing_preview(client: httpx.Client, engine: StubEngine) -> None:
    assert_error_shape(client.get("/jobs/v1/task(nope)"), 404, "task(nope)")
    assert_error_shape(client.delete("/jobs/v1/task(nope)"), 404)
    job = client.post("/jobs/v1/txt2img", json={**SMALL, "steps": 1}).json()["id"]
    wait_until(lambda: client.get(f"/jobs/v1/{job}").json()["status"] == "done")
    assert_error_shape(client.get(f"/jobs/v1/{job}/preview"), 404, "preview")


def test_async_job_failure_reports_the_error(client: httpx.Client, live: LiveServer) -> None:
    def broken(req: Any, control: Any) -> Any:
        raise RuntimeError("out of paint")

    live.runtime.generate = broken  # type: ignore[method-assign]
    job = client.post("/jobs/v1/txt2img", json=SMALL).json()["id"]
    failed = wait_until(lambda: (j := client.get(f"/jobs/v1/{job}").json())["status"] == "failed" and j)
    assert failed["error"] == "out of paint" and failed["error_type"] == "RuntimeError"
    assert failed["result"] is None


# --- options, lists, png-info -------------------------------------------------------------


def test_options_round_trip_and_persist(client: httpx.Client, live: LiveServer) -> None:
    options = client.get("/sdapi/v1/options").json()
    assert options["CLIP_stop_at_last_layers"] == 1 and options["samples_format"] == "png"
    assert options["sd_model_checkpoint"] == "placeholder.safetensors"
    assert set(live.runtime.settings.schema) <= set(options)
    r = client.post("/sdapi/v1/options", json={"jpeg_quality": 91, "samples_save": False})
    assert r.status_code == 200 and r.json() is None
    assert client.get("/sdapi/v1/options").json()["jpeg_quality"] == 91
    assert json.loads(live.runtime.paths.settings_file.read_text())["jpeg_quality"] == 91
    client.post("/sdapi/v1/options", json={"jpeg_quality": 80, "samples_save": True})


def test_jpeg_samples_format_carries_exif_infotext(client: httpx.Client, engine: StubEngine) -> None:
    client.post("/sdapi/v1/options", json={"samples_format": "jpg"})
    try:
        r = txt2img(client, **SMALL, seed=3)
    finally:
        client.post("/sdapi/v1/options", json={"samples_format": "png"})
    image_b64 = r.json()["images"][0]
    assert decode_b64_image(image_b64).format == "JPEG"
    info = client.post("/sdapi/v1/png-info", json={"image": image_b64}).json()
    assert info["info"] == json.loads(r.json()["info"])["infotexts"][0]


def test_png_info_round_trip(client: httpx.Client, engine: StubEngine) -> None:
    r = txt2img(client, **SMALL, seed=11, prompt="a cat", negative_prompt="dog")
    image = r.json()["images"][0]
    info = client.post("/sdapi/v1/png-info", json={"image": f"data:image/png;base64,{image}"}).json()
    assert info["info"].startswith("a cat\nNegative prompt: dog\nSteps: 2")
    params = info["parameters"]
    assert (params["Prompt"], params["Negative prompt"], params["Seed"], params["Size-1"]) == ("a cat", "dog",
                                                                                             "11", "64")
    assert client.post("/sdapi/v1/png-info", json={"image": ""}).json() == {"info": "", "items": {},
                                                                            "parameters": {}}


def test_lists(client: httpx.Client, live: LiveServer) -> None:
    samplers = client.get("/sdapi/v1/samplers").json()
    names = [s["name"] for s in samplers]
    assert names[0] == "DPM++ 2M" and "Euler a" in names and "UniPC" in names
    assert samplers[0] == {"name": "DPM++ 2M", "aliases": ["k_dpmpp_2m"], "options": {"scheduler": "karras"}}
    schedulers = client.get("/sdapi/v1/schedulers").json()
    karras = next(s for s in schedulers if s["name"] == "karras")
    assert karras == {"name": "karras", "label": "Karras", "aliases": None, "default_rho": 7.0,
                      "need_inner_model": False}
    models = client.get("/sdapi/v1/sd-models").json()
    assert [m["title"] for m in models] == ["placeholder.safetensors"]
    assert set(models[0]) == {"title", "model_name", "hash", "sha256", "filename", "config"}
    assert client.get("/sdapi/v1/prompt-styles").json() == [
        {"name": "cinematic", "prompt": "{prompt}, cinematic light", "negative_prompt": "blurry"}]
    assert client.get("/sdapi/v1/scripts").json() == {"txt2img": ["controlnet"],
                                                      "img2img": ["outpainting mk2", "sd upscale", "controlnet"]}
    assert client.get("/sdapi/v1/script-info").json() == [
        {"name": name, "is_alwayson": False, "is_img2img": True, "args": []}
        for name in ("outpainting mk2", "sd upscale")] + [
        {"name": "controlnet", "is_alwayson": True, "is_img2img": img2img, "args": []} for img2img in (False, True)]
    assert client.get("/sdapi/v1/extensions").json() == []  # no extension with a git remote
    flags = client.get("/sdapi/v1/cmd-flags").json()
    assert flags["nowebui"] is True and flags["api_auth"] is None and flags["port"] == 7861
    memory = client.get("/sdapi/v1/memory").json()
    assert memory["ram"]["used"] > 0 and memory["ram"]["total"] >= memory["ram"]["used"]
    assert "cuda" in memory
    assert client.post("/sdapi/v1/refresh-checkpoints").json() is None


# --- auth ---------------------------------------------------------------------------------


def test_api_auth(tmp_path_factory: pytest.TempPathFactory) -> None:
    data = tmp_path_factory.mktemp("api-auth")
    live = start_live_server(data, "--nowebui", "--no-hashing", "--api-auth", "alice:s3cret,bob:pw",
                             ckpt=placeholder_checkpoint(data))
    try:
        with live.client() as c:
            for method, path in (("GET", "/sdapi/v1/options"), ("POST", "/sdapi/v1/txt2img"),
                                 ("GET", "/internal/ping"), ("GET", "/jobs/v1")):
                denied = c.request(method, path, json={})
                assert_error_shape(denied, 401, "username or password")
                assert denied.headers["WWW-Authenticate"] == "Basic"
            assert c.get("/sdapi/v1/options", auth=("alice", "wrong")).status_code == 401
            assert c.get("/sdapi/v1/options", auth=("alice", "s3cret")).status_code == 200
            assert c.get("/internal/ping", auth=("bob", "pw")).json() == {}
    finally:
        live.stop()
