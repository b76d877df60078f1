"""A1111-style extension scripts through the facades, from the API, with the real engine and a tiny
SD1 checkpoint: an AlwaysVisible style selector rewrites the prompts and writes its infotext keys,
a selectable script's run() calls process_images, a broken extension and a raising script are
isolated and named, and the scripts/script-info/extensions routes answer A1111's shapes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.extensions import BROKEN_IMPORT, CALLBACKS, RAISING_HOOK, styler_files, write_extension
from tests.test_api_harness import LiveServer, start_live_server

# A script that, like A1111's wildcards, only touches the hires lists when there is a hires pass.
HR_PROBE = """
from modules import scripts


class HrProbe(scripts.Script):
    def title(self):
        return "Hires probe"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def process(self, p, *args):
        lists = p.all_hr_prompts, p.all_hr_negative_prompts
        p.extra_generation_params["Hires lists"] = "none" if lists == (None, None) else len(lists[0])
"""

TINY = {"width": 64, "height": 64, "steps": 1, "cfg_scale": 5.0, "seed": 7, "sampler_name": "Euler"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, tiny_sd1: Path) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("ext-scripts")
    write_extension(data / "extensions" / "styler", styler_files())
    write_extension(data / "extensions" / "broken", {"scripts/b.py": BROKEN_IMPORT})
    write_extension(data / "extensions" / "callbacks", {"scripts/c.py": CALLBACKS})
    write_extension(data / "extensions" / "hr-probe", {"scripts/h.py": HR_PROBE})
    server = start_live_server(data, "--nowebui", ckpt=tiny_sd1)
    yield server
    server.stop()


@pytest.fixture()
def client(live: LiveServer) -> Iterator[httpx.Client]:
    with live.client() as c:
        yield c


def test_alwayson_script_rewrites_prompts_and_writes_infotext(client: httpx.Client) -> None:
    body = {**TINY, "prompt": "a cat", "negative_prompt": "blurry",
            "alwayson_scripts": {"Prompt Styler": {"args": [True, "cinematic"]}}}
    response = client.post("/sdapi/v1/txt2img", json=body)
    assert response.status_code == 200, response.text
    info = json.loads(response.json()["info"])
    assert info["prompt"] == "cinematic still of a cat, film grain"
    assert info["negative_prompt"] == "cartoon, blurry"
    text = info["infotexts"][0]
    assert text.startswith("cinematic still of a cat, film grain\nNegative prompt: cartoon, blurry\n")
    assert "Prompt Styler Enabled: True" in text and "Prompt Styler Style: cinematic" in text


def test_alwayson_args_by_name_and_defaults(client: httpx.Client) -> None:
    by_name = {**TINY, "prompt": "a dog", "alwayson_scripts": {"prompt styler": {"args": {"Style": "cinematic"}}}}
    info = json.loads(client.post("/sdapi/v1/txt2img", json=by_name).json()["info"])
    assert info["prompt"] == "cinematic still of a dog, film grain"
    plain = json.loads(client.post("/sdapi/v1/txt2img", json={**TINY, "prompt": "a dog"}).json()["info"])
    assert plain["prompt"] == "a dog" and "Prompt Styler" not in plain["infotexts"][0]


def test_hires_prompt_lists_are_none_without_a_hires_pass(client: httpx.Client) -> None:
    plain = json.loads(client.post("/sdapi/v1/txt2img", json={**TINY, "prompt": "a cat"}).json()["info"])
    assert "Hires lists: none" in plain["infotexts"][0]
    hires = {**TINY, "prompt": "a cat", "batch_size": 2, "enable_hr": True, "hr_scale": 1.5,
             "hr_second_pass_steps": 1, "denoising_strength": 0.5, "hr_upscaler": "Latent"}
    response = client.post("/sdapi/v1/txt2img", json=hires)
    assert response.status_code == 200, response.text
    assert "Hires lists: 2" in json.loads(response.json()["info"])["infotexts"][0]


def test_selectable_script_runs_process_images(client: httpx.Client) -> None:
    body = {**TINY, "prompt": "red", "script_name": "Prompt Repeater", "script_args": [3]}
    response = client.post("/sdapi/v1/txt2img", json=body)
    assert response.status_code == 200, response.text
    info = json.loads(response.json()["info"])
    assert info["prompt"] == "red, red, red"
    assert "Repeat times: 3" in info["infotexts"][0] and "Repeat mode: txt2img" in info["infotexts"][0]


def test_unknown_scripts_are_422(client: httpx.Client) -> None:
    r = client.post("/sdapi/v1/txt2img", json={**TINY, "alwayson_scripts": {"nope": {"args": []}}})
    assert r.status_code == 422 and "nope" in r.text
    r = client.post("/sdapi/v1/txt2img", json={**TINY, "script_name": "nope"})
    assert r.status_code == 422


def test_routes_have_a1111_shapes(client: httpx.Client, live: LiveServer) -> None:
    scripts = client.get("/sdapi/v1/scripts").json()
    assert "prompt styler" in scripts["txt2img"] and "prompt repeater" in scripts["img2img"]
    info = {(i["name"], i["is_img2img"]): i for i in client.get("/sdapi/v1/script-info").json()}
    styler = info[("prompt styler", False)]
    assert styler["is_alwayson"] is True
    assert [a["label"] for a in styler["args"]] == ["Enable Prompt Styler", "Style"]
    assert styler["args"][1]["choices"] == ["none", "cinematic"]
    assert info[("prompt repeater", True)]["args"][0] == {"label": "Times", "value": 2, "minimum": 1,
                                                           "maximum": 4, "step": 1, "choices": None}
    assert client.get("/sdapi/v1/extensions").json() == []  # no git remote: A1111 lists none


def test_broken_extension_is_named_and_the_rest_works(live: LiveServer) -> None:
    errors = live.runtime.extensions.errors
    assert any("'broken'" in e and "sd_hijack_magic" in e for e in errors)
    assert any("'broken'" in w for w in live.runtime.warnings)  # the page's banner shows runtime warnings
    assert live.runtime.settings.get("prompt_styler_default_on") is True  # on_ui_settings ran


def test_raising_script_is_skipped_with_a_comment(tmp_path: Path, tiny_sd1: Path) -> None:
    write_extension(tmp_path / "extensions" / "raiser", {"scripts/r.py": RAISING_HOOK})
    write_extension(tmp_path / "extensions" / "styler", styler_files())
    server = start_live_server(tmp_path, "--nowebui", ckpt=tiny_sd1)
    try:
        with server.client() as client:
            body = {**TINY, "prompt": "a cat", "alwayson_scripts": {"Prompt Styler": {"args": [True, "cinematic"]}}}
            response = client.post("/sdapi/v1/txt2img", json=body)
        assert response.status_code == 200, response.text
        info = json.loads(response.json()["info"])
        assert info["prompt"] == "cinematic still of a cat, film grain"  # the other extension still ran
        comments = json.dumps(response.json())
        assert "The 'raiser' script 'Raiser' failed in process and was skipped: RuntimeError: boom in process" \
            in comments
    finally:
        server.stop()


def test_a1111_callbacks_reach_the_job_and_the_app(client: httpx.Client, live: LiveServer) -> None:
    from modules.hooks.payloads import InfotextPaste

    body = {**TINY, "steps": 2, "prompt": "a bird", "save_images": True}
    assert client.post("/sdapi/v1/txt2img", json=body).status_code == 200
    seen = client.get("/callbacks-ext/seen").json()
    assert seen["models"] >= 1 and seen["cfg_steps"][-2:] == [[0, [1, 4, 8, 8]], [1, [1, 4, 8, 8]]]
    assert seen["before_save"][-1] == "a bird" and seen["saved"][-1].endswith(".png")
    assert seen["data_path"] == str(live.runtime.paths.data_dir) and seen["samples_format"] == "png"
    assert seen["cmd_nowebui"] is True and seen["has_save_image"] is True
    paste = InfotextPaste("a bird\nSteps: 2", {"Steps": "2"})
    live.runtime.hooks.call("on_infotext_paste", paste)
    assert paste.params["Pasted by extension"] == "a bird"


def test_a_builtin_script_still_runs_beside_an_alwayson_extension_script(client: httpx.Client) -> None:
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 40, 40)).save(buffer, format="PNG")
    body = {**TINY, "prompt": "a cat", "init_images": [base64.b64encode(buffer.getvalue()).decode()],
            "script_name": "Outpainting mk2", "script_args": ["", 8, 0, ["right"], 1.0, 0.05],
            "alwayson_scripts": {"Prompt Styler": {"args": [True, "cinematic"]}}}
    response = client.post("/sdapi/v1/img2img", json=body)
    assert response.status_code == 200, response.text
    info = json.loads(response.json()["info"])
    image = Image.open(io.BytesIO(base64.b64decode(response.json()["images"][0])))
    assert image.size == (72, 64)  # outpainted 8 px to the right (a plain img2img stays 64 wide)
    assert info["prompt"] == "cinematic still of a cat, film grain"  # and the extension script ran too
    assert "Prompt Styler Style: cinematic" in info["infotexts"][0]
