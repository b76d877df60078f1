"""The `p` lifecycle A1111 scripts rely on, with the real loader, the real engine (tiny SD1) and the
API and the UI's Generate path: the order of the script methods per batch (n_iter=2, batch_size=2),
per-batch prompt/seed changes that take effect, `postprocess_image` replacing the picture that is
saved and returned, and per-picture prompts from `process()` (infotext and pixels)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.fixtures.extensions import write_extension
from tests.test_api_harness import LiveServer, decode_b64_image, start_live_server

TINY = {"width": 64, "height": 64, "steps": 2, "cfg_scale": 5.0, "seed": 100, "sampler_name": "Euler"}

LIFECYCLE = '''
import gradio as gr
from PIL import ImageOps

from modules import script_callbacks, scripts, shared

calls = []


class Recorder(scripts.Script):
    """Records every call with what A1111 passes; mode 'rewrite' changes prompts and seeds per batch."""

    def title(self):
        return "Lifecycle Recorder"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def ui(self, is_img2img):
        return [gr.Checkbox(value=False, label="Record"), gr.Textbox(value="", label="Mode")]

    def setup(self, p, on, mode):
        if on:
            calls.clear()
            calls.append(["setup"])

    def before_process(self, p, on, mode):
        if on:
            calls.append(["before_process"])

    def process(self, p, on, mode):
        if on:
            calls.append(["process", list(p.all_prompts), list(p.all_seeds), list(p.all_subseeds),
                          p.sd_model.is_sdxl, p.sd_model.sd_checkpoint_info.model_name, shared.sd_model.is_sd1])
            p.extra_generation_params["Recorder"] = "on"

    def before_process_batch(self, p, on, mode, batch_number, prompts, seeds, subseeds):
        if on:
            calls.append(["before_process_batch", batch_number, list(prompts), list(seeds), list(subseeds)])
            if mode == "rewrite":
                p.seeds = [500 + 10 * batch_number + j for j in range(len(p.seeds))]

    def process_batch(self, p, on, mode, batch_number, prompts, seeds, subseeds):
        if on:
            calls.append(["process_batch", batch_number, list(prompts), list(seeds)])
            if mode == "rewrite":
                p.prompts = [f"{q}, batch {batch_number}" for q in p.prompts]

    def process_before_every_sampling(self, p, on, mode, x=None, noise=None, c=None, uc=None):
        if on:
            calls.append(["process_before_every_sampling", p.iteration, list(x.shape)])

    def postprocess_batch(self, p, on, mode, images=None, batch_number=None):
        if on:
            calls.append(["postprocess_batch", batch_number, list(images.shape),
                          float(images.min()) >= 0 and float(images.max()) <= 1])

    def postprocess_batch_list(self, p, pp, on, mode, batch_number=None):
        if on:
            calls.append(["postprocess_batch_list", batch_number, len(pp.images)])

    def postprocess_image(self, p, pp, on, mode):
        if on:
            calls.append(["postprocess_image", p.iteration, p.batch_index])

    def postprocess(self, p, processed, on, mode):
        if on:
            calls.append(["postprocess", len(processed.images)])


class Inverter(scripts.Script):
    """Replaces every picture by its negative in postprocess_image."""

    def title(self):
        return "Inverter"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def ui(self, is_img2img):
        return [gr.Checkbox(value=False, label="Invert")]

    def postprocess_image(self, p, pp, on):
        if on:
            pp.image = ImageOps.invert(pp.image.convert("RGB"))
            p.extra_generation_params["Inverted"] = "yes"


class Variants(scripts.Script):
    """Gives every picture its own prompt (and the same seed) in process(), as prompt-matrix-like scripts do."""

    def title(self):
        return "Prompt Variants"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def ui(self, is_img2img):
        return [gr.Textbox(value="", label="Variants")]

    def process(self, p, variants):
        words = [w.strip() for w in variants.split(",") if w.strip()]
        if not words:
            return
        for i in range(len(p.all_prompts)):
            p.all_prompts[i] = f"{p.all_prompts[i]} {words[i % len(words)]}"
            p.all_seeds[i] = p.all_seeds[0]
        p.extra_generation_params["Variant"] = [words[i % len(words)] for i in range(len(p.all_prompts))]


class HiresVariants(scripts.Script):
    """Gives every picture its own hires prompt in process()."""

    def title(self):
        return "Hires Variants"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def ui(self, is_img2img):
        return [gr.Checkbox(value=False, label="Hires variants")]

    def process(self, p, on):
        if on and p.enable_hr:
            for i in range(len(p.all_hr_prompts)):
                p.all_hr_prompts[i] = f"{p.all_prompts[i]}, hires {i}"


class ExtraPicture(scripts.Script):
    """Adds a mirrored copy of the batch's first picture in postprocess_batch_list (A1111's contract:
    update p.prompts/p.seeds with it)."""

    def title(self):
        return "Extra Picture"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def ui(self, is_img2img):
        return [gr.Checkbox(value=False, label="Add")]

    def postprocess_batch_list(self, p, pp, on, batch_number=None):
        if on:
            pp.images.append(pp.images[0].flip(-1))
            p.prompts = [*p.prompts, p.prompts[0] + ", mirrored"]
            p.negative_prompts = [*p.negative_prompts, p.negative_prompts[0]]
            p.seeds, p.subseeds = [*p.seeds, p.seeds[0]], [*p.subseeds, p.subseeds[0]]


class NoPaste(scripts.Script):
    """Inpainting: records the picture moments and, in postprocess_maskoverlay, turns the paste off."""

    def title(self):
        return "No Paste"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def ui(self, is_img2img):
        return [gr.Checkbox(value=False, label="Skip paste")]

    def postprocess_image(self, p, pp, on):
        if on:
            calls.append(["postprocess_image", p.batch_index])

    def postprocess_maskoverlay(self, p, ppmo, on):
        if on:
            calls.append(["postprocess_maskoverlay", ppmo.index, ppmo.mask_for_overlay.mode])
            ppmo.overlay_image = None

    def postprocess_image_after_composite(self, p, pp, on):
        if on:
            calls.append(["postprocess_image_after_composite", p.batch_index])


seen_saved = []


def before_saved(params):
    seen_saved.append(params.image.getpixel((0, 0)))


def app_started(_demo, app):
    @app.get("/lifecycle/calls")
    def report():
        return {"calls": calls, "saved_first_pixel": [list(px) for px in seen_saved]}


script_callbacks.on_before_image_saved(before_saved)
script_callbacks.on_app_started(app_started)
'''


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, tiny_sd1: Path) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("ext-lifecycle")
    write_extension(data / "extensions" / "lifecycle", {"scripts/lifecycle.py": LIFECYCLE})
    server = start_live_server(data, "--nowebui", ckpt=tiny_sd1)
    yield server
    server.stop()


@pytest.fixture()
def client(live: LiveServer) -> Iterator[httpx.Client]:
    with live.client() as c:
        yield c


def txt2img(client: httpx.Client, **body: Any) -> tuple[list[Image.Image], dict[str, Any]]:
    response = client.post("/sdapi/v1/txt2img", json={**TINY, **body})
    assert response.status_code == 200, response.text
    data = response.json()
    return [decode_b64_image(b) for b in data["images"]], json.loads(data["info"])


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def expected_order(seeds: list[int], subseeds: list[int], prompt: str, pictures: int) -> list[list[Any]]:
    """A1111's order for n_iter=2, batch_size=2 (no hires: one sampling per batch)."""
    order: list[list[Any]] = [["setup"], ["before_process"],
                              ["process", [prompt] * 4, seeds, subseeds, False, "tiny-sd1", True]]
    for n in range(2):
        span = slice(2 * n, 2 * n + 2)
        order += [["before_process_batch", n, [prompt] * 2, seeds[span], subseeds[span]],
                  ["process_batch", n, [prompt] * 2, seeds[span]],
                  ["process_before_every_sampling", n, [2, 4, 8, 8]],
                  ["postprocess_batch", n, [2, 3, 64, 64], True],
                  ["postprocess_batch_list", n, 2],
                  ["postprocess_image", n, 0], ["postprocess_image", n, 1]]
    return [*order, ["postprocess", pictures]]


def test_script_methods_run_in_a1111_order_per_batch(client: httpx.Client) -> None:
    images, info = txt2img(client, prompt="a fox", n_iter=2, batch_size=2,
                           alwayson_scripts={"lifecycle recorder": {"args": [True, ""]}})
    calls = client.get("/lifecycle/calls").json()["calls"]
    assert info["all_seeds"] == [100, 101, 102, 103]
    assert calls == expected_order([100, 101, 102, 103], info["all_subseeds"], "a fox", len(images))
    assert all("Recorder: on" in text for text in info["infotexts"])  # extra_generation_params reach the infotext


def test_prompt_and_seed_changes_in_batch_methods_take_effect(client: httpx.Client) -> None:
    images, info = txt2img(client, prompt="a fox", n_iter=2, batch_size=2,
                           alwayson_scripts={"lifecycle recorder": {"args": [True, "rewrite"]}})
    first = info["index_of_first_image"]
    pictures, texts = images[first:], info["infotexts"][first:]
    assert info["all_seeds"] == [500, 501, 510, 511]
    assert info["all_prompts"] == ["a fox, batch 0"] * 2 + ["a fox, batch 1"] * 2
    for text, seed, batch in zip(texts, [500, 501, 510, 511], [0, 0, 1, 1], strict=True):
        assert text.startswith(f"a fox, batch {batch}\n") and f"Seed: {seed}," in text
    # each picture is what a plain job with its prompt and seed makes
    plain, _ = txt2img(client, prompt="a fox, batch 1", seed=511)
    assert np.abs(pixels(pictures[3]) - pixels(plain[0])).max() <= 2
    assert np.abs(pixels(pictures[2]) - pixels(plain[0])).max() > 2


def test_postprocess_image_replaces_the_saved_and_returned_picture(client: httpx.Client, live: LiveServer) -> None:
    original, _ = txt2img(client, prompt="a house")
    images, info = txt2img(client, prompt="a house", save_images=True,
                           alwayson_scripts={"inverter": {"args": [True]}})
    assert np.array_equal(pixels(images[0]), 255 - pixels(original[0]))
    assert "Inverted: yes" in info["infotexts"][0]
    saved = sorted((live.runtime.paths.data_dir / "outputs").rglob("*.png"), key=lambda f: f.stat().st_mtime)[-1]
    with Image.open(saved) as file:
        assert np.array_equal(pixels(file), 255 - pixels(original[0]))
        assert "Inverted: yes" in file.info["parameters"]
    first = client.get("/lifecycle/calls").json()["saved_first_pixel"][-1]
    assert first == list(images[0].getpixel((0, 0)))  # on_before_image_saved saw the replaced picture


def test_per_picture_prompts_from_process(client: httpx.Client) -> None:
    images, info = txt2img(client, prompt="a boat", batch_size=3,
                           alwayson_scripts={"prompt variants": {"args": ["red, green, blue"]}})
    first = info["index_of_first_image"]
    pictures, texts = images[first:], info["infotexts"][first:]
    words = ["red", "green", "blue"]
    assert info["all_prompts"] == [f"a boat {w}" for w in words]
    for text, word in zip(texts, words, strict=True):
        assert text.startswith(f"a boat {word}\n") and "Seed: 100," in text and f"Variant: {word}" in text
    assert not np.array_equal(pixels(pictures[0]), pixels(pictures[1]))  # same seed, own prompt
    plain, _ = txt2img(client, prompt="a boat blue")
    assert np.abs(pixels(pictures[2]) - pixels(plain[0])).max() <= 2


def test_hires_prompts_follow_the_pictures_prompts(client: httpx.Client) -> None:
    _, info = txt2img(client, prompt="a boat", batch_size=2, enable_hr=True, hr_scale=1.5, hr_upscaler="Latent",
                      denoising_strength=0.5, hr_second_pass_steps=1,
                      alwayson_scripts={"prompt variants": {"args": ["red, green"]}})
    texts = info["infotexts"][info["index_of_first_image"]:]
    assert texts[0].startswith("a boat red\n") and texts[1].startswith("a boat green\n")
    assert all("Hires prompt" not in t for t in texts)  # the hires pass used each picture's own prompt


def test_hires_prompts_per_picture_from_process(client: httpx.Client) -> None:
    hires = {"enable_hr": True, "hr_scale": 1.5, "hr_upscaler": "Latent", "denoising_strength": 0.5,
             "hr_second_pass_steps": 1}
    images, info = txt2img(client, prompt="a boat", batch_size=2, **hires,
                           alwayson_scripts={"hires variants": {"args": [True]}})
    first = info["index_of_first_image"]
    texts = info["infotexts"][first:]
    assert "Hires prompt: \"a boat, hires 0\"" in texts[0] or "Hires prompt: a boat, hires 0," in texts[0]
    assert "a boat, hires 1" in texts[1] and "a boat, hires 0" not in texts[1]
    plain, _ = txt2img(client, prompt="a boat", seed=101, hr_prompt="a boat, hires 1", **hires)
    assert np.abs(pixels(images[first + 1]) - pixels(plain[0])).max() <= 2


def test_postprocess_batch_list_may_add_pictures(client: httpx.Client) -> None:
    images, info = txt2img(client, prompt="a tree", alwayson_scripts={"extra picture": {"args": [True]}})
    first = info["index_of_first_image"]
    pictures, texts = images[first:], info["infotexts"][first:]
    assert len(pictures) == 2
    assert texts[1].startswith("a tree, mirrored\n") and "Seed: 100," in texts[1]
    assert np.array_equal(pixels(pictures[1]), pixels(pictures[0])[:, ::-1])


def test_img2img_runs_the_same_lifecycle(client: httpx.Client) -> None:
    import base64
    import io

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 40, 40)).save(buffer, format="PNG")
    init = base64.b64encode(buffer.getvalue()).decode()
    body = {**TINY, "prompt": "a fox", "init_images": [init], "denoising_strength": 0.5, "n_iter": 2,
            "batch_size": 2, "alwayson_scripts": {"lifecycle recorder": {"args": [True, ""]},
                                                  "inverter": {"args": [True]}}}
    response = client.post("/sdapi/v1/img2img", json=body)
    assert response.status_code == 200, response.text
    info = json.loads(response.json()["info"])
    calls = client.get("/lifecycle/calls").json()["calls"]
    names = [c[0] for c in calls]
    assert names == [c[0] for c in expected_order([100, 101, 102, 103], info["all_subseeds"], "a fox",
                                                  len(response.json()["images"]))]
    assert all("Inverted: yes" in t for t in info["infotexts"])


def test_inpainting_calls_the_mask_overlay_step_before_the_paste(client: httpx.Client) -> None:
    import base64
    import io

    def b64(image: Image.Image) -> str:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return base64.b64encode(buffer.getvalue()).decode()

    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (0, 0, 32, 64))
    body = {**TINY, "prompt": "a fox", "init_images": [b64(Image.new("RGB", (64, 64), (200, 40, 40)))],
            "mask": b64(mask), "mask_blur": 0, "denoising_strength": 0.9}
    pasted = client.post("/sdapi/v1/img2img", json=body).json()["images"][0]
    assert pixels(decode_b64_image(pasted))[:, 40:].tolist() == [[[200, 40, 40]] * 24] * 64  # kept exactly
    client.post("/sdapi/v1/txt2img", json={**TINY, "alwayson_scripts": {"lifecycle recorder": {"args": [True, ""]}}})
    response = client.post("/sdapi/v1/img2img", json={**body, "alwayson_scripts": {"no paste": {"args": [True]}}})
    assert response.status_code == 200, response.text
    unpasted = pixels(decode_b64_image(response.json()["images"][0]))
    assert np.abs(unpasted[:, 40:] - np.array([200, 40, 40])).max() > 10  # the paste was turned off
    calls = client.get("/lifecycle/calls").json()["calls"]
    assert calls[-3:] == [["postprocess_image", 0], ["postprocess_maskoverlay", 0, "L"],
                          ["postprocess_image_after_composite", 0]]


def test_ui_generate_path_runs_the_same_lifecycle(live: LiveServer) -> None:
    import gradio as gr

    from modules.ui.output_panel import OutputPanel
    from modules.ui.txt2img import make_generate

    with gr.Blocks():
        panel = OutputPanel(*[gr.HTML() for _ in dataclasses.fields(OutputPanel)])
    values = {"prompt": "a boat", "batch_size": 2, "steps": 2, "width": 64, "height": 64, "seed": 100,
              "cfg_scale": 5.0, "sampler_name": "Euler",
              "script::prompt variants::0": "red, green", "script::inverter::0": True}
    outputs = list(make_generate(live.runtime, panel)("task(txt2img-LIFECYCLE1)", **values))
    result = outputs[-1][panel.result]
    assert result is not None, outputs[-1]
    texts = result.infotexts[result.index_of_first_image:]
    assert texts[0].startswith("a boat red\n") and texts[1].startswith("a boat green\n")
    assert all("Inverted: yes" in t for t in texts)
    with httpx.Client(base_url=live.url, timeout=120) as client:
        plain, _ = txt2img(client, prompt="a boat green")
        assert np.abs(pixels(result.images[-1]) - (255 - pixels(plain[0]))).max() <= 2
        recorded = {**values, "prompt": "a fox", "batch_count": 2, "script::prompt variants::0": "",
                    "script::inverter::0": False, "script::lifecycle recorder::0": True,
                    "script::lifecycle recorder::1": ""}
        outputs = list(make_generate(live.runtime, panel)("task(txt2img-LIFECYCLE2)", **recorded))
        result = outputs[-1][panel.result]
        calls = client.get("/lifecycle/calls").json()["calls"]
    assert calls == expected_order([100, 101, 102, 103], result.info["all_subseeds"], "a fox", len(result.images))
