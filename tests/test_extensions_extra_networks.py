"""Extra-network types added by extensions (real loader, tiny SD1, the API): an A1111-style
`ExtraNetwork` registered with `modules.extra_networks`, and one of our extension API's
(`add_extra_network`) that adds a UNet wrapper. Tags of both types are stripped before encoding."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from modules.text.conditioning import PromptConditioner
from tests.engine_helpers import load_cpu_model
from tests.fixtures.extensions import write_extension
from tests.fixtures.tiny_networks import write_lora
from tests.test_api_harness import LiveServer, decode_b64_image, start_live_server

TINY = {"width": 64, "height": 64, "steps": 2, "cfg_scale": 5.0, "seed": 7, "sampler_name": "Euler"}

A1111_NETWORK = '''
import os

import gradio as gr

from modules import extra_networks, script_callbacks, scripts, ui_extra_networks

calls = []


class ShiftNetwork(extra_networks.ExtraNetwork):
    def __init__(self):
        super().__init__("shift")

    def activate(self, p, params_list):
        calls.append({"event": "activate", "items": [x.items for x in params_list],
                      "positional": [x.positional for x in params_list], "named": [x.named for x in params_list],
                      "is_sd1": p.sd_model.is_sd1, "prompt": p.prompt})
        if params_list:
            p.extra_generation_params["Shift net"] = "|".join(params_list[0].items)

    def deactivate(self, p):
        calls.append({"event": "deactivate"})


extra_networks.register_extra_network(ShiftNetwork())


class ShiftPage(ui_extra_networks.ExtraNetworksPage):
    def __init__(self):
        super().__init__("Shift nets")

    def list_items(self):
        path = os.path.join(scripts.basedir(), "abc.safetensors")
        yield {"name": "abc", "prompt": \'"<shift:abc:" + opts.extra_networks_default_multiplier + ">"\',
               "description": "An ABC shift", "local_preview": self.find_preview(path), "search_terms": [path]}


ui_extra_networks.register_page(ShiftPage())


class LaterBatchPrompt(scripts.Script):
    """Gives the batches after the first their own prompt in process() (as A1111 scripts do)."""

    def title(self):
        return "Later batch prompt"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def ui(self, is_img2img):
        return [gr.Textbox(value="", label="Later prompt")]

    def process(self, p, later):
        if later:
            for i in range(p.batch_size, len(p.all_prompts)):
                p.all_prompts[i] = later
parsed = extra_networks.parse_prompt("a cat <shift:x:w=2> <lora:y:1>")


def app_started(_demo, app):
    @app.get("/shiftnet/calls")
    def report():
        return {"calls": calls, "parsed": [parsed[0], {k: [p.items for p in v] for k, v in parsed[1].items()}]}


script_callbacks.on_app_started(app_started)
'''

OWN_NETWORK = '''
from modules import extension_api as api

api.require(1)


def brighten(params_list, call):
    amount = sum(float(p.positional[0]) for p in params_list)

    def wrapper(unet_call, call_next):
        return call_next(unet_call) - amount  # shifts every noise prediction

    call.add_unet_wrapper(wrapper, name="brighten")
    call.infotext["Brighten"] = amount


def broken(params_list, call):
    raise RuntimeError("no such net " + params_list[0].items[0])


api.add_extra_network("broken", broken)
api.add_extra_network("brighten", brighten, aliases=("bright",), title="Brighten",
                      items=lambda: [{"name": "glow", "description": "A glow"}])
'''

TAKES_LORA = '''
from modules import extension_api as api

api.add_extra_network("lora", lambda params_list, call: None)
'''


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, tiny_sd1: Path) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("ext-networks")
    shiftnet = write_extension(data / "extensions" / "shiftnet", {"scripts/shiftnet.py": A1111_NETWORK})
    Image.new("RGB", (8, 8), (10, 200, 30)).save(shiftnet / "abc.png")
    write_extension(data / "extensions" / "brightnet", {"scripts/brightnet.py": OWN_NETWORK})
    write_extension(data / "extensions" / "takeslora", {"scripts/takeslora.py": TAKES_LORA})
    model = load_cpu_model(tiny_sd1)
    write_lora(data / "models" / "Lora", "inkA", model, "lora", seed=11)
    write_lora(data / "models" / "Lora", "inkB", model, "lora", seed=12)
    del model
    server = start_live_server(data, "--nowebui", ckpt=tiny_sd1)
    yield server
    server.stop()


@pytest.fixture()
def client(live: LiveServer) -> Iterator[httpx.Client]:
    with live.client() as c:
        yield c


@pytest.fixture()
def encoded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text the text encoder is given (a spy on the conditioner)."""
    seen: list[str] = []
    original = PromptConditioner.encode_texts

    def spy(self: PromptConditioner, texts: list[str]) -> Any:
        seen.extend(texts)
        return original(self, texts)

    monkeypatch.setattr(PromptConditioner, "encode_texts", spy)
    return seen


def txt2img(client: httpx.Client, **body: Any) -> tuple[list[Image.Image], dict[str, Any]]:
    response = client.post("/sdapi/v1/txt2img", json={**TINY, **body})
    assert response.status_code == 200, response.text
    data = response.json()
    return [decode_b64_image(b) for b in data["images"]], json.loads(data["info"])


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_a1111_extra_network_is_activated_with_its_tags(client: httpx.Client, encoded: list[str]) -> None:
    _, info = txt2img(client, prompt="a red circle <shift:abc:0.5>")
    calls = client.get("/shiftnet/calls").json()["calls"]
    assert calls[-2:] == [{"event": "activate", "items": [["abc", "0.5"]], "positional": [["abc", "0.5"]],
                           "named": [{}], "is_sd1": True, "prompt": "a red circle <shift:abc:0.5>"},
                          {"event": "deactivate"}]
    assert encoded and all("<shift" not in text and "abc" not in text for text in encoded)
    assert any(text.startswith("a red circle") for text in encoded)
    assert "Shift net: abc|0.5" in info["infotexts"][0]
    assert info["infotexts"][0].startswith("a red circle <shift:abc:0.5>\n")  # the tag stays in the infotext
    assert "not applied" not in info.get("comments", "")


def test_a1111_extra_network_is_activated_per_batch_with_that_batchs_tags(client: httpx.Client) -> None:
    seen = len(client.get("/shiftnet/calls").json()["calls"])
    _, info = txt2img(client, prompt="a red circle <shift:abc:0.5>", n_iter=3,
                      alwayson_scripts={"later batch prompt": {"args": ["a red circle <shift:def:1>"]}})
    calls = client.get("/shiftnet/calls").json()["calls"][seen:]
    assert [(c["event"], c.get("items")) for c in calls] == [
        ("activate", [["abc", "0.5"]]), ("activate", [["def", "1"]]), ("activate", [["def", "1"]]),
        ("deactivate", None)]
    texts = info["infotexts"][info["index_of_first_image"]:]
    assert "Shift net: abc|0.5" in texts[0] and all("Shift net: def|1" in t for t in texts[1:])


def test_a_scripts_later_batches_use_their_own_loras(client: httpx.Client) -> None:
    """A1111's rule end to end: a script gives batch 2 another LoRA in process(); its pictures equal a
    job of that prompt alone (same seed), batch 1's a job of the first prompt."""
    first, later = "a red circle <lora:inkA:1>", "a red circle <lora:inkB:1>"
    images, info = txt2img(client, prompt=first, n_iter=2,
                           alwayson_scripts={"later batch prompt": {"args": [later]}})
    pictures, texts = images[info["index_of_first_image"]:], info["infotexts"][info["index_of_first_image"]:]
    assert "inkA: " in texts[0] and "inkB: " in texts[1] and "inkA" not in texts[1].split("\n")[-1]
    alone_first, _ = txt2img(client, prompt=first)
    alone_later, _ = txt2img(client, prompt=later, seed=TINY["seed"] + 1)
    assert np.array_equal(pixels(pictures[0]), pixels(alone_first[0]))
    assert np.array_equal(pixels(pictures[1]), pixels(alone_later[0]))
    first_at_later_seed, _ = txt2img(client, prompt=first, seed=TINY["seed"] + 1)
    assert np.abs(pixels(pictures[1]) - pixels(first_at_later_seed[0])).mean() > 1.0  # the LoRA mattered


def test_a1111_extra_network_gets_an_empty_list_without_tags(client: httpx.Client) -> None:
    _, info = txt2img(client, prompt="a red circle")
    calls = client.get("/shiftnet/calls").json()["calls"]
    assert [c["event"] for c in calls[-2:]] == ["activate", "deactivate"] and calls[-2]["items"] == []
    assert "Shift net" not in info["infotexts"][0]


def test_facade_parse_prompt_has_a1111_shape(client: httpx.Client) -> None:
    parsed = client.get("/shiftnet/calls").json()["parsed"]
    assert parsed == ["a cat  ", {"shift": [["x", "w=2"]], "lora": [["y", "1"]]}]


def test_own_api_network_wraps_the_unet(client: httpx.Client, encoded: list[str]) -> None:
    plain, _ = txt2img(client, prompt="a red circle")
    zero, _ = txt2img(client, prompt="a red circle <brighten:0>")
    bright, info = txt2img(client, prompt="a red circle <bright:0.4>")  # the alias
    assert all("<bright" not in text for text in encoded)
    assert np.abs(pixels(zero[0]) - pixels(plain[0])).max() <= 1  # tag stripped, wrapper adds nothing
    assert np.abs(pixels(bright[0]) - pixels(plain[0])).mean() > 3  # the wrapper changed the denoising
    assert "Brighten: 0.4" in info["infotexts"][0]


def test_a_failing_type_is_skipped_and_named(client: httpx.Client) -> None:
    plain, _ = txt2img(client, prompt="a red circle")
    images, info = txt2img(client, prompt="a red circle <broken:xyz>")
    assert "Extension 'brightnet': extra network <broken:...> failed and was skipped: RuntimeError: no such net xyz" \
        in info["comments"]
    assert np.abs(pixels(images[0]) - pixels(plain[0])).max() <= 1


def test_built_in_type_names_cannot_be_taken(live: LiveServer) -> None:
    errors = live.runtime.extensions.errors
    assert any("takeslora" in e and "<lora:...> is built in" in e for e in errors), errors


def test_card_pages_of_extension_types(live: LiveServer) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from modules.ui.extra_networks_routes import register_card_routes
    from modules.ui.extra_networks_ui import extension_tabs, skeleton_html

    app = FastAPI()  # the card routes come with the UI (this server runs --nowebui)
    register_card_routes(app, live.runtime)
    client = TestClient(app)

    tabs = extension_tabs(live.runtime)
    assert ("shift_nets", "Shift nets") in tabs and ("brighten", "Brighten") in tabs
    assert 'data-page="shift_nets">Shift nets</button>' in skeleton_html("txt2img", tabs)
    shift = client.get("/sd_extra_networks/cards", params={"page": "shift_nets"}).json()["items"]
    assert [(i["name"], i["prompt"], i["description"], i["preview"], i["readonly"]) for i in shift] == [
        ("abc", "<shift:abc:1>", "An ABC shift", "abc", True)]
    thumb = client.get("/sd_extra_networks/thumb", params={"page": "shift_nets", "path": "abc"})
    assert thumb.status_code == 200
    assert thumb.content == (live.runtime.paths.extensions_dir / "shiftnet" / "abc.png").read_bytes()
    for path in ("../shiftnet/abc.png", "glow", "abc.png"):  # only the previews the page listed, by name
        assert client.get("/sd_extra_networks/thumb", params={"page": "shift_nets", "path": path}).status_code == 404
    bright = client.get("/sd_extra_networks/cards", params={"page": "brighten"}).json()["items"]
    assert [(i["name"], i["prompt"], i["preview"]) for i in bright] == [("glow", "<brighten:glow:1>", None)]
