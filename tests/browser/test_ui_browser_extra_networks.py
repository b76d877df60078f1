"""The card browser in a real browser, with 5,000 LoRA files: open the Lora tab, search, click a
card (the tag appears in the prompt at the card's preferred weight), click again (it goes away)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from tests.browser.conftest import LiveServer, open_app, screenshot, start_live_server

pytestmark = pytest.mark.browser
LORA_COUNT = 5000


def fill_lora_folder(folder: Path, count: int = LORA_COUNT) -> None:
    """`count` small (header-only) LoRA files in 50 subfolders, one with a preview and notes."""
    header = json.dumps({"__metadata__": {"ss_output_name": "x"}}).encode()
    blob = len(header).to_bytes(8, "little") + header
    for i in range(count):
        sub = folder / f"group{i % 50:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"style_{i:05d}.safetensors").write_bytes(blob)
    Image.new("RGB", (32, 32), (200, 30, 30)).save(folder / "group07" / "style_00007.preview.png")
    (folder / "group07" / "style_00007.json").write_text(
        json.dumps({"preferred weight": 0.7, "description": "a red test style"}), encoding="utf-8")


@pytest.fixture(scope="module")
def app_server(tiny_sd1: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    data = tmp_path_factory.mktemp("ui-extra-networks")
    fill_lora_folder(data / "models" / "Lora")
    (data / "embeddings").mkdir()
    save_file({"emb_params": torch.randn(2, 32)}, str(data / "embeddings" / "easyneg.safetensors"))
    server = start_live_server(data, tiny_sd1)
    yield server
    server.stop()


def _wait(page: Any, js: str, timeout_s: float = 15) -> float:
    started = time.perf_counter()
    page.wait_for_function(js, timeout=timeout_s * 1000)
    return time.perf_counter() - started


def test_lora_tab_search_and_click_inserts_and_removes_the_tag(app_server: LiveServer, chromium_browser: Any):
    assert not app_server.runtime.networks.loras.scanned  # start-up did not list the folder
    page = open_app(chromium_browser, app_server.url)
    root = "#txt2img_extra_networks"
    try:
        page.fill("#txt2img_prompt textarea", "a cat")
        page.click(f"{root} .sdui-en-tab[data-page=lora]")
        opened = _wait(page, f"document.querySelectorAll('{root} .sdui-en-card').length > 0")
        count = page.inner_text(f"{root} .sdui-en-count")
        assert count == f"120 of {LORA_COUNT}" or count.endswith(f"of {LORA_COUNT}")
        started = time.perf_counter()
        page.fill(f"{root} .sdui-en-search", "style_00007")
        _wait(page, f"document.querySelectorAll('{root} .sdui-en-card').length === 1")
        searched = time.perf_counter() - started
        card = page.locator(f"{root} .sdui-en-card")
        assert "a red test style" in card.inner_text()
        # the preview loads after the card is drawn: wait for it (under load it can take a moment)
        _wait(page, f"document.querySelector('{root} .sdui-en-card img').complete")
        assert card.locator("img").evaluate("img => img.naturalWidth") == 32
        card.click()
        _wait(page, "document.querySelector('#txt2img_prompt textarea').value.includes('<lora:style_00007:0.7>')")
        assert page.input_value("#txt2img_prompt textarea") == "a cat <lora:style_00007:0.7>"
        card.click()
        _wait(page, "!document.querySelector('#txt2img_prompt textarea').value.includes('<lora:')")
        assert page.input_value("#txt2img_prompt textarea") == "a cat"
        card.locator(".sdui-en-edit").click()
        page.fill(f"{root} .sdui-en-editor textarea[data-key='preferred weight']", "0.4")
        page.fill(f"{root} .sdui-en-editor textarea[data-key='notes']", "my note")
        page.click(f"{root} .sdui-en-save")
        _wait(page, f"document.querySelectorAll('{root} .sdui-en-card').length === 1")
        notes = json.loads((app_server.data_dir / "models" / "Lora" / "group07" / "style_00007.json").read_text())
        assert notes == {"preferred weight": 0.4, "description": "a red test style", "activation text": "",
                         "notes": "my note"}
        page.locator(f"{root} .sdui-en-card").click()
        _wait(page, "document.querySelector('#txt2img_prompt textarea').value.includes('<lora:style_00007:0.4>')")
        render_ms = int(page.get_attribute(root + " .sdui-en", "data-render-ms") or 0)
        print(f"\n5000 LoRAs: tab open {opened:.2f} s, search {searched:.3f} s, last render {render_ms} ms, "
              f"server start {app_server.seconds_to_start:.2f} s")
        assert opened < 5 and searched < 1.5
    finally:
        screenshot(page, "extra-networks-lora")
        page.context.close()


def test_card_routes_refuse_paths_outside_and_unknown_names(app_server: LiveServer, chromium_browser: Any):
    context = chromium_browser.new_context()
    try:
        request = context.request
        base = app_server.url
        outside = request.get(f"{base}/sd_extra_networks/thumb?page=lora&path=../../config.json")
        assert outside.status == 404
        inside = request.get(f"{base}/sd_extra_networks/thumb?page=lora&path=group07/style_00007.preview.png")
        assert inside.status == 200 and inside.headers["content-type"] == "image/png"
        assert request.get(f"{base}/sd_extra_networks/cards?page=secrets").status == 404
        bad = request.post(f"{base}/sd_extra_networks/select-checkpoint", data={"name": "nope.safetensors"})
        assert bad.status == 404 and "nope.safetensors" in bad.text()
        wrong = request.post(f"{base}/sd_extra_networks/user-metadata",
                             data={"page": "lora", "path": "group01/style_00001.safetensors", "data": {"evil": 1}})
        assert wrong.status == 422 and "unknown card metadata" in wrong.text()
    finally:
        context.close()


def test_embedding_card_goes_into_the_negative_prompt_when_that_was_focused(app_server: LiveServer,
                                                                            chromium_browser: Any):
    page = open_app(chromium_browser, app_server.url)
    root = "#txt2img_extra_networks"
    try:
        page.fill("#txt2img_neg_prompt textarea", "blurry")
        page.click(f"{root} .sdui-en-tab[data-page=textual_inversion]")
        _wait(page, f"document.querySelectorAll('{root} .sdui-en-card').length === 1")
        page.click(f"{root} .sdui-en-card")
        _wait(page, "document.querySelector('#txt2img_neg_prompt textarea').value.includes('easyneg')")
        assert page.input_value("#txt2img_neg_prompt textarea") == "blurry easyneg"
        page.click("#txt2img_prompt textarea")
        page.click(f"{root} .sdui-en-card")
        _wait(page, "document.querySelector('#txt2img_prompt textarea').value.includes('easyneg')")
        assert page.input_value("#txt2img_neg_prompt textarea") == "blurry easyneg"
    finally:
        page.context.close()
