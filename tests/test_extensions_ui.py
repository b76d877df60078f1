"""The page-level A1111 surface for extensions, with extensions written by the test into an
extensions folder and loaded through the real loader: before/after_component for our widgets by
A1111's element ids (and a failing hook named once), `infotext_fields` filled by a paste (from an
infotext a real generation wrote), a selectable script in both tabs' Script dropdown and run from
the img2img tab and the API, and the extension API's registries (sampler, schedule type, upscaler,
ControlNet preprocessor) listed by the API and called by generation, Extras and detect."""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("gradio")

from modules.cmd_args import parse_args  # noqa: E402
from modules.extensions.host import load_extensions  # noqa: E402
from modules.runtime import build_runtime  # noqa: E402
from modules.ui.blocks import TabSpec, create_blocks, default_tabs  # noqa: E402
from modules.ui.paste_wiring import paste_into  # noqa: E402
from tests.fixtures.extension_ui import GRABBER, REGISTRAR, SIZER, SUFFIXER  # noqa: E402
from tests.fixtures.extensions import write_extension  # noqa: E402
from tests.test_api_harness import LiveServer, decode_b64_image, start_live_server  # noqa: E402

A1111_IDS = ("prompt", "neg_prompt", "steps", "sampling", "scheduler", "width", "height", "batch_count",
             "batch_size", "cfg_scale", "seed", "generate", "styles", "gallery")
TINY = {"width": 64, "height": 64, "steps": 2, "cfg_scale": 5.0, "seed": 3, "sampler_name": "Euler"}


def write_extensions(data: Path) -> None:
    write_extension(data / "extensions" / "grabber", {"scripts/grabber.py": GRABBER})
    write_extension(data / "extensions" / "suffixer", {"scripts/suffixer.py": SUFFIXER})
    write_extension(data / "extensions" / "registrar", {"scripts/registrar.py": REGISTRAR})
    write_extension(data / "extensions" / "sizer", {"scripts/sizer.py": SIZER})


class Page:
    def __init__(self, runtime: Any, demo: Any, ui: Any) -> None:
        self.runtime, self.demo, self.ui = runtime, demo, ui

    def script(self, title: str, mode: str) -> Any:
        return next(e.script for e in self.runtime.extensions.entries if e.title == title and e.mode == mode)

    def by_id(self, elem_id: str) -> Any:
        return next(b for b in self.demo.blocks.values() if getattr(b, "elem_id", None) == elem_id)

    def events(self) -> list[Any]:
        return list(self.demo.fns.values())


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    data = tmp_path_factory.mktemp("ext-ui")
    write_extensions(data)
    runtime = build_runtime(parse_args(["--data-dir", str(data), "--no-demo-model", "--no-hashing",
                                        "--skip-install"], environ={}))
    load_extensions(runtime)
    built: list[Any] = []
    tabs = [t for t in default_tabs() if t.id in ("txt2img", "img2img", "pnginfo")]
    demo = create_blocks(runtime, tabs=[*tabs, TabSpec("probe", "probe", built.append)])
    yield Page(runtime, demo, built[0])
    runtime.shutdown()


def test_after_component_gets_our_widgets_by_a1111_element_ids(page: Page) -> None:
    for tab in ("txt2img", "img2img"):
        grabber = page.script("Grabber", tab)
        wanted = [f"{tab}_{name}" for name in A1111_IDS]
        assert [i for i in wanted if i not in grabber.after_ids] == []
        assert [i for i in wanted if i not in grabber.before_ids] == []
        assert not any(i.startswith("txt2img_" if tab == "img2img" else "img2img_")
                       for i in grabber.after_ids if i)  # a tab's scripts hear only their tab
        assert grabber.prompt is page.ui.paste_targets[tab]["prompt"]  # the very widget the tab uses
        assert grabber.prompt.elem_id == f"{tab}_prompt"
        assert [c.elem_id for c in grabber.generate_seen] == [f"{tab}_generate"]  # on_after_component(elem_id=)
    assert page.script("Grabber", "img2img").after_ids.count("img2img_denoising_strength") == 1
    globals_seen = global_seen(page)  # the global callbacks hear every tab, PNG Info included
    assert {"txt2img_prompt", "img2img_prompt", "pnginfo_send_txt2img"} <= set(globals_seen["global_after"])
    assert "txt2img_prompt" in globals_seen["global_before"]


def global_seen(page: Page) -> dict[str, list[Any]]:
    script = next(e.script for e in page.runtime.extensions.entries if e.title == "Grabber")
    return type(script).after_component.__globals__["seen"]  # this load's module (not a later one's)


def test_settings_widgets_reach_the_global_callbacks_when_the_tab_opens(tmp_path: Path) -> None:
    import gradio as gr

    write_extension(tmp_path / "extensions" / "grabber", {"scripts/grabber.py": GRABBER})
    runtime = build_runtime(parse_args(["--data-dir", str(tmp_path), "--no-demo-model", "--no-hashing",
                                        "--skip-install"], environ={}))
    load_extensions(runtime)
    demo = create_blocks(runtime, tabs=[t for t in default_tabs() if t.id == "settings"])
    page = Page(runtime, demo, None)
    seen = global_seen(page)["global_after"]
    assert "setting_samples_format" not in seen  # the sections are built when the tab is opened
    tab = page.by_id("tab_settings")
    render = next(f for f in page.events() if any(t[0] == tab._id for t in f.targets)).renderable
    with gr.Blocks():
        render.fn()  # what opening the tab runs
    assert {"setting_samples_format", "settings_submit"} <= set(seen)
    runtime.shutdown()


def test_tool_button_subclasses_with_their_own_init_are_page_buttons(page: Page) -> None:
    buttons = [b for b in page.demo.blocks.values() if type(b).__name__ == "RatioButton"]
    assert [(b.value, b.ratio) for b in buttons] == [("2:1", 2.0), ("3:2", 1.5)] * 2  # both tabs
    assert {b.get_block_name() for b in buttons} == {"button"}  # drawn by gradio's button
    assert all("tool" in b.elem_classes for b in buttons)
    config = buttons[0].get_config()  # what the page gets: the button's own fields, not the subclass's
    assert (config["value"], config["size"], "tool" in config["elem_classes"]) == ("2:1", "sm", True)
    for tab in ("txt2img", "img2img"):
        width, height = page.by_id(f"{tab}_width"), page.by_id(f"{tab}_height")
        wired = [f for f in page.events() if getattr(f.fn, "__qualname__", "") == "RatioButton.widen"
                 and f.inputs == [width, height]]
        assert [f.outputs == [width, height] for f in wired] == [True, True]
        assert wired[0].fn(512, 512) == [1024, 512]
    folder = page.runtime.paths.data_dir / "extensions" / "sizer"
    assert sorted(p.name for p in folder.rglob("*") if p.is_file()) == ["sizer.py"]  # no gradio .pyi stub
    assert [e for e in page.runtime.extensions.errors if "sizer" in e] == []


def test_an_event_wired_in_ui_to_a_grabbed_widget_is_on_the_page(page: Page) -> None:
    grabber = page.script("Grabber", "txt2img")
    wired = [f for f in page.events() if f.inputs == [grabber.prompt] and f.outputs == [grabber.echo]]
    assert len(wired) == 1 and wired[0].fn("a cat") == "A CAT"


def test_a_failing_component_hook_is_named_once_and_the_page_is_built(page: Page) -> None:
    message = ("Extension 'grabber' failed in after_component and was skipped: "
               "RuntimeError: after_component exploded")
    assert page.runtime.extensions.errors.count(message) == 1
    assert page.runtime.warnings.count(message) == 1  # on the page's banner
    assert page.by_id("txt2img_generate") is not None


def test_paste_fills_script_widgets_from_their_infotext_keys(page: Page) -> None:
    text = ('a cat\nNegative prompt: dog\nSteps: 3, Sampler: Euler, CFG scale: 5, Seed: 1, Size: 64x64, '
            'Grab enabled: True, Grab strength: 0.7, Grab note: "hello, world"')
    for tab in ("txt2img", "img2img"):
        fields = {f.component.label: f.component for f in page.ui.script_paste[tab]}
        updates = paste_into(page.ui, text, tab, "log")
        assert updates[fields["Grab enabled"]] is True
        assert updates[fields["Grab strength"]] == pytest.approx(0.7)
        assert updates[fields["Grab note"]] == "hello, world"
        assert updates[page.ui.paste_targets[tab]["steps"]] == 3  # beside the built-in fields
    only_steps = paste_into(page.ui, "a cat\nSteps: 3, Size: 64x64, Grab strength: lots", "txt2img", "log")
    fields = {f.component.label: f.component for f in page.ui.script_paste["txt2img"]}
    assert not ({fields["Grab enabled"], fields["Grab strength"], fields["Grab note"]} & set(only_steps))
    assert "Grab strength = 'lots' does not fit its field" in html.unescape(only_steps["log"])


def test_every_paste_event_can_fill_the_script_widgets(page: Page) -> None:
    strength = {f.component.label: f.component for f in page.ui.script_paste["txt2img"]}["Grab strength"]
    paste_button = page.by_id("txt2img_paste")
    send_button = page.by_id("pnginfo_send_txt2img")
    for button in (paste_button, send_button):
        events = [f for f in page.events() if any(t[0] == button._id for t in f.targets) and f.outputs]
        assert any(strength in f.outputs for f in events), button.elem_id


def test_send_to_img2img_copies_the_paste_field_names_widgets(page: Page) -> None:
    from modules.engine.request import GenerationResult

    button = page.by_id("txt2img_send_to_img2img")
    event = next(f for f in page.events() if any(t[0] == button._id for t in f.targets) and f.outputs)
    source = {f.component.label: f.component for f in page.ui.script_paste["txt2img"]}
    target = {f.component.label: f.component for f in page.ui.script_paste["img2img"]}
    assert event.inputs[2:] == [source["Grab strength"]]  # only the key named in paste_field_names
    result = GenerationResult([Image.new("RGB", (64, 64))], ["a cat\nSteps: 4, Sampler: Euler, Size: 64x64"],
                              [1], [1], ["a cat"], [""])
    updates = event.fn(result, None, 0.55)
    assert updates[target["Grab strength"]] == 0.55 and target["Grab enabled"] not in updates
    assert updates[page.ui.paste_targets["img2img"]["steps"]] == 4  # the infotext is pasted as well


def test_selectable_scripts_are_in_both_script_dropdowns(page: Page) -> None:
    for elem_id in ("script_list", "img2img_script_list"):
        choices = [c[0] for c in page.by_id(elem_id).choices]
        assert "Prompt Suffixer" in choices and "Grabber" not in choices
    img2img_choices = [c[0] for c in page.by_id("img2img_script_list").choices]
    assert {"Outpainting mk2", "SD upscale"} <= set(img2img_choices)  # the built-in ones stay


def test_img2img_tab_runs_the_chosen_extension_script(page: Page, monkeypatch: pytest.MonkeyPatch) -> None:
    from modules.engine.request import GenerationResult
    from modules.ui.img2img import make_generate
    from modules.ui.output_panel import OutputPanel

    seen: list[Any] = []

    def fake_generate(req: Any, control: Any) -> GenerationResult:
        seen.append(req)
        return GenerationResult([Image.new("RGB", (8, 8))], ["x"], [1], [1], ["p"], ["n"])

    monkeypatch.setattr(page.runtime, "generate", fake_generate)
    panel = OutputPanel(*[object() for _ in range(13)])
    values = {"prompt": "a cat", "init_img": Image.new("RGB", (64, 64)), "script_name": "Prompt Suffixer",
              "selscript::prompt suffixer::0": "crisp"}
    updates = list(make_generate(page.runtime, panel)(None, **values))
    assert seen, updates
    assert seen[0].script_name == "Prompt Suffixer" and tuple(seen[0].script_args) == ("crisp",)


# --- with the real engine (a tiny SD1) -----------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, tiny_sd1: Path) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("ext-ui-live")
    write_extensions(data)
    server = start_live_server(data, "--nowebui", ckpt=tiny_sd1)
    yield server
    server.stop()


def png_b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_infotext_written_by_a_script_pastes_back_into_its_widgets(live: LiveServer, page: Page) -> None:
    body = {**TINY, "prompt": "a cat", "alwayson_scripts": {"Grabber": {"args": [True, 0.65, "hi, there"]}}}
    with live.client() as client:
        response = client.post("/sdapi/v1/txt2img", json=body)
    assert response.status_code == 200, response.text
    text = json.loads(response.json()["info"])["infotexts"][0]
    assert "Grab strength: 0.65" in text
    fields = {f.component.label: f.component for f in page.ui.script_paste["txt2img"]}
    updates = paste_into(page.ui, text, "txt2img", "log")
    assert updates[fields["Grab enabled"]] is True and updates[fields["Grab strength"]] == pytest.approx(0.65)
    assert updates[fields["Grab note"]] == "hi, there"


def test_api_runs_a_selectable_extension_script_in_img2img(live: LiveServer) -> None:
    body = {**TINY, "prompt": "a cat", "init_images": [png_b64(Image.new("RGB", (64, 64), (90, 20, 20)))],
            "denoising_strength": 0.5, "script_name": "prompt suffixer", "script_args": ["crisp"]}
    with live.client() as client:
        response = client.post("/sdapi/v1/img2img", json=body)
    assert response.status_code == 200, response.text
    info = json.loads(response.json()["info"])
    assert info["prompt"] == "a cat, crisp" and "Suffixer: crisp" in info["infotexts"][0]


def test_registered_sampler_scheduler_upscaler_and_preprocessor(live: LiveServer) -> None:
    with live.client() as client:
        def calls() -> dict[str, int]:
            return client.get("/registrar/calls").json()

        assert "Test Euler" in [s["name"] for s in client.get("/sdapi/v1/samplers").json()]
        assert "test_linear" in [s["name"] for s in client.get("/sdapi/v1/schedulers").json()]
        upscalers = {u["name"]: u for u in client.get("/sdapi/v1/upscalers").json()}
        assert upscalers["Test Doubler"]["scale"] == 2 and upscalers["Test Doubler"]["model_name"] == "registrar"
        assert "test_invert" in client.get("/controlnet/module_list").json()["module_list"]
        assert calls() == {"sampler": 0, "scheduler": 0, "upscaler": 0, "preprocessor": 0}

        body = {**TINY, "prompt": "a cat", "sampler_name": "Test Euler", "scheduler": "Test Linear"}
        response = client.post("/sdapi/v1/txt2img", json=body)
        assert response.status_code == 200, response.text
        text = json.loads(response.json()["info"])["infotexts"][0]
        assert "Sampler: Test Euler" in text and "Schedule type: Test Linear" in text
        assert calls()["sampler"] == 1 and calls()["scheduler"] == 1

        picture = Image.new("RGB", (16, 12), (10, 200, 30))
        picture.putpixel((0, 0), (255, 0, 0))
        body = {"image": png_b64(picture), "upscaling_resize": 2, "upscaler_1": "Test Doubler"}
        response = client.post("/sdapi/v1/extra-single-image", json=body)
        assert response.status_code == 200, response.text
        upscaled = decode_b64_image(response.json()["image"]).convert("RGB")
        assert upscaled.size == (32, 24) and upscaled.getpixel((1, 1)) == (255, 0, 0)  # NEAREST blocks
        assert calls()["upscaler"] == 1

        body = {"controlnet_module": "test_invert", "controlnet_input_images": [png_b64(picture)]}
        response = client.post("/controlnet/detect", json=body)
        assert response.status_code == 200, response.text
        detected = np.asarray(decode_b64_image(response.json()["images"][0]).convert("RGB"))
        assert detected.shape == (12, 16, 3) and tuple(detected[5, 5]) == (245, 55, 225)
        assert tuple(detected[0, 0]) == (0, 255, 255) and calls()["preprocessor"] == 1
