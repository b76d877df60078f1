"""The txt2img page in a real browser against the real app (tiny SD1 checkpoint, 64x64, 2 steps).

Covers: the page loads fast and asks nothing of the internet, Ctrl+Enter generates and shows
the image with its infotext, Ctrl+Up/Down edits attention weights, Interrupt keeps finished
images, and PNG Info -> Send to txt2img fills the fields and warns about a different checkpoint.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, PngImagePlugin

from tests.browser.conftest import (
    ARTIFACTS,
    LiveServer,
    open_app,
    screenshot,
    seconds_to_ready,
    start_live_server,
    write_json,
)

pytestmark = pytest.mark.browser

# The brief's target. A CI machine known to be slower may raise it with SDUI_PAGE_LOAD_LIMIT_S.
PAGE_LOAD_LIMIT_S = float(os.environ.get("SDUI_PAGE_LOAD_LIMIT_S", "2.0"))
PAGE_LOADS = 5
GENERATION_TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def app_server(tiny_sd1: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    data = tmp_path_factory.mktemp("ui-data")
    # Fast polling and previews; small images by default through ui-config.json (A1111 keys).
    write_json(data / "config.json", {"live_preview_refresh_period": 200, "show_progress_every_n_steps": 2})
    write_json(data / "ui-config.json", {"txt2img/Width/value": 64, "txt2img/Height/value": 64,
                                         "txt2img/Sampling steps/value": 2})
    server = start_live_server(data, tiny_sd1)
    yield server
    server.stop()


def set_number(page: Any, elem_id: str, value: float) -> None:
    page.fill(f"#{elem_id} input[type=number]", str(value))
    page.keyboard.press("Enter")


def test_page_loads_fast_and_only_talks_to_the_app(app_server: LiveServer, chromium_browser: Any) -> None:
    timings, outside = [], []
    for _ in range(PAGE_LOADS):  # best of five fresh (cache-less) loads: the machine may be shared
        requests: list[str] = []
        page = open_app(chromium_browser, app_server.url, requests)
        timings.append(seconds_to_ready(page))
        page.wait_for_timeout(1000)  # late requests (fonts, the load event) still count; gradio never idles
        outside += [u for u in requests if not u.startswith((app_server.url, "data:", "blob:"))]
        if len(timings) == PAGE_LOADS:
            screenshot(page, "ui-txt2img-loaded")
        page.context.close()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "page-load-times.json").write_text(json.dumps({"seconds": timings}), encoding="utf-8")
    assert outside == [], f"the page fetched from outside the app: {outside}"
    assert min(timings) < PAGE_LOAD_LIMIT_S, f"page load times {timings}"


def test_ctrl_enter_generates_an_image_with_its_infotext(page: Any, app_server: LiveServer) -> None:
    page.fill("#txt2img_prompt textarea", "a red circle")
    page.fill("#txt2img_neg_prompt textarea", "blurry")
    page.wait_for_function("document.querySelector('#txt2img_prompt_token_counter')"
                           ".innerText.trim() === '3/75'")
    page.focus("#txt2img_prompt textarea")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#txt2img_gallery img", timeout=GENERATION_TIMEOUT_MS)
    page.wait_for_function("document.querySelector('#html_info_txt2img').innerText.includes('Steps: 2')")
    info = page.inner_text("#html_info_txt2img")
    screenshot(page, "ui-txt2img-generated")
    assert info.startswith("a red circle\nNegative prompt: blurry\nSteps: 2, Sampler: DPM++ 2M")
    assert "Size: 64x64" in info and "Model: tiny" in info
    widths = page.evaluate("Array.from(document.querySelectorAll('#txt2img_gallery img'))"
                           ".map(i => i.naturalWidth)")
    assert widths and set(widths) == {64}
    saved = sorted((app_server.data_dir / "outputs" / "txt2img-images").rglob("*.png"))
    assert len(saved) == 1
    with Image.open(saved[0]) as image:
        assert image.info["parameters"] == info.split("\n\nTime taken")[0].strip()


def test_save_button_writes_log_images_and_offers_the_file(page: Any, app_server: LiveServer) -> None:
    page.click("#save_txt2img")
    page.wait_for_function("document.querySelector('#html_log_txt2img').innerText.includes('Saved: 00000-')")
    page.wait_for_selector("#download_files_txt2img a", timeout=10_000)  # the saved file, downloadable
    log_dir = app_server.data_dir / "log" / "images"
    assert len(list(log_dir.glob("00000-*.png"))) == 1 and (log_dir / "log.csv").is_file()
    title = page.get_attribute("#txt2img_send_to_extras", "title") or ""
    assert title.startswith("Not available") and page.is_disabled("#txt2img_send_to_extras")
    assert not page.is_disabled("#txt2img_send_to_img2img")


def test_ctrl_up_down_changes_attention_weight(page: Any) -> None:
    page.fill("#txt2img_prompt textarea", "a cat, sky")
    page.evaluate("() => { const t = document.querySelector('#txt2img_prompt textarea');"
                  " t.focus(); t.setSelectionRange(2, 5); }")
    page.keyboard.press("Control+ArrowUp")
    assert page.input_value("#txt2img_prompt textarea") == "a (cat:1.1), sky"
    page.keyboard.press("Control+ArrowUp")
    assert page.input_value("#txt2img_prompt textarea") == "a (cat:1.2), sky"
    page.keyboard.press("Alt+ArrowDown")
    page.keyboard.press("Control+ArrowDown")
    assert page.input_value("#txt2img_prompt textarea") == "a cat, sky"
    page.evaluate("() => { const t = document.querySelector('#txt2img_prompt textarea');"
                  " t.setSelectionRange(8, 8); }")  # cursor inside "sky", nothing selected
    page.keyboard.press("Control+ArrowDown")
    assert page.input_value("#txt2img_prompt textarea") == "a cat, (sky:0.9)"


def test_a_waiting_request_shows_its_place_in_the_shared_queue(page: Any, app_server: LiveServer) -> None:
    release = threading.Event()
    app_server.runtime.queue.submit(lambda control: release.wait(60), kind="other-user")
    try:
        page.fill("#txt2img_prompt textarea", "waiting")
        page.click("#txt2img_generate")
        page.wait_for_function("document.querySelector('#txt2img_progress').innerText"
                               ".includes('In queue: 1/1')")
        screenshot(page, "ui-txt2img-queued")
    finally:
        release.set()
    page.wait_for_function("document.querySelector('#html_info_txt2img').innerText.startsWith('waiting')",
                           timeout=GENERATION_TIMEOUT_MS)


def test_interrupt_stops_the_job_and_keeps_finished_images(page: Any) -> None:
    page.fill("#txt2img_prompt textarea", "interrupt me")
    set_number(page, "txt2img_steps", 150)  # long enough per image to see batch 2 and its preview
    set_number(page, "txt2img_batch_count", 3)
    page.click("#txt2img_generate")
    page.wait_for_function("document.querySelector('#txt2img_progress').innerText.includes('Batch 2/3')",
                           timeout=GENERATION_TIMEOUT_MS)
    page.wait_for_selector("#txt2img_preview img", timeout=GENERATION_TIMEOUT_MS)  # live preview
    screenshot(page, "ui-txt2img-progress")
    page.click("#txt2img_interrupt")
    page.wait_for_function("document.querySelector('#html_log_txt2img').innerText.includes('Interrupted')",
                           timeout=GENERATION_TIMEOUT_MS)
    shown = page.locator("#txt2img_gallery img").count()
    info = page.inner_text("#html_info_txt2img")
    set_number(page, "txt2img_steps", 2)
    set_number(page, "txt2img_batch_count", 1)
    assert 1 <= shown < 3, "finished images stay, unfinished ones never appear"
    assert info.startswith("interrupt me") and "Steps: 150" in info


def _png_with_infotext(path: Path, text: str) -> Path:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", text)
    Image.new("RGB", (32, 24), (200, 30, 30)).save(path, pnginfo=info)
    return path


PASTED = ("a castle on a hill, (sunset:1.2)\nNegative prompt: blurry, lowres\n"
          "Steps: 7, Sampler: Euler a, Schedule type: Automatic, CFG scale: 6.5, Seed: 12345, Size: 320x192, "
          "Model hash: 0123456789, Model: other-model, Variation seed: 99, Variation seed strength: 0.3, "
          "Clip skip: 2, Version: v1.10.1")


def test_png_info_send_to_txt2img_fills_every_named_field(page: Any, tmp_path: Path) -> None:
    page.get_by_role("tab", name="PNG Info").click()
    source = _png_with_infotext(tmp_path / "in.png", PASTED)
    page.set_input_files("#pnginfo_image input[type=file]", str(source))
    page.wait_for_function("document.querySelector('#pnginfo_html').innerText.includes('Steps: 7')")
    assert "other-model" in page.inner_text("#pnginfo_status")
    screenshot(page, "ui-pnginfo")
    page.click("#pnginfo_send_txt2img")
    page.wait_for_function("document.querySelector('#txt2img_prompt textarea').value.startsWith('a castle')")
    values = {name: page.input_value(f"#txt2img_{name} input") for name in
              ("sampling", "scheduler", "steps", "cfg_scale", "seed", "width", "height", "subseed",
               "subseed_strength")}
    assert values == {"sampling": "Euler a", "scheduler": "Automatic", "steps": "7", "cfg_scale": "6.5",
                      "seed": "12345", "width": "320", "height": "192", "subseed": "99",
                      "subseed_strength": "0.3"}
    assert page.input_value("#txt2img_prompt textarea") == "a castle on a hill, (sunset:1.2)"
    assert page.input_value("#txt2img_neg_prompt textarea") == "blurry, lowres"
    assert "Clip skip: 2" in page.inner_text("#txt2img_override_settings")
    assert "other-model" in page.inner_text("#html_log_txt2img")
    screenshot(page, "ui-pnginfo-sent")
