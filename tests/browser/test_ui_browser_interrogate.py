"""Interrogate › Analyze in a real browser: drop a demo-world picture, add labels, Analyze, and see
the five term panels and the user's labels ranked (the shipped demo CLIP, as on a fresh install);
img2img's "Interrogate DeepBooru" fills the prompt with a tiny DeepDanbooru model's tags."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from modules.interrogate.folders import DEMO_ROOT
from modules.interrogate.session import trimmed_term_lists
from modules.training import world
from tests.browser.conftest import LiveServer, open_app, screenshot, start_live_server
from tests.fixtures.tiny_deepbooru import write_tiny_deepbooru

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app_server(tiny_sd1: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    data = tmp_path_factory.mktemp("ui-interrogate")
    shutil.copytree(DEMO_ROOT / "CLIP" / "demo", data / "models" / "CLIP" / "demo")
    write_tiny_deepbooru(data / "models" / "torch_deepdanbooru")
    server = start_live_server(data, tiny_sd1)
    server.runtime.interrogator.term_lists = trimmed_term_lists(data / "lists", 60)  # 106k terms take minutes
    yield server
    server.stop()


@pytest.fixture(scope="module")
def picture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from PIL import Image

    path = tmp_path_factory.mktemp("pictures") / "red-circle.png"
    scene = world.Scene("red", "circle", "blue", (0.5, 0.5), 0.25)
    Image.fromarray(world.render(scene)).resize((256, 256)).save(path)
    return path


def test_analyze_shows_term_panels_and_ranked_labels(app_server: LiveServer, chromium_browser: Any,
                                                     picture: Path) -> None:
    page = open_app(chromium_browser, app_server.url)
    try:
        page.get_by_role("tab", name="Interrogate", exact=True).first.click()
        page.get_by_role("tab", name="Analyze", exact=True).first.click()
        page.locator("#analyze_image input[type=file]").set_input_files(str(picture))
        page.wait_for_selector("#analyze_image img", timeout=20_000)
        page.fill("#analyze_labels textarea", "green\nred\nblue\nyellow")
        page.click("#analyze_button")
        page.wait_for_selector("#analyze_user_labels [data-testid=label-output-value]", timeout=120_000)
        top = page.locator("#analyze_user_labels [data-testid=label-output-value]").inner_text()
        screenshot(page, "interrogate-analyze")
        assert top.strip() == "red"
        for panel in ("medium", "artist", "movement", "trending", "flavor"):
            text = page.locator(f"#analyze_{panel}").inner_text()
            assert "%" in text, (panel, text)
        ranked = page.locator("#analyze_user_labels").inner_text()
        assert all(colour in ranked for colour in ("green", "blue", "yellow"))
    finally:
        page.context.close()


def test_img2img_deepbooru_button_fills_the_prompt(app_server: LiveServer, chromium_browser: Any,
                                                  picture: Path) -> None:
    page = open_app(chromium_browser, app_server.url)
    try:
        page.get_by_role("tab", name="img2img", exact=True).first.click()
        page.locator("#img2img_image input[type=file]").set_input_files(str(picture))
        page.wait_for_selector("#img2img_image img", timeout=20_000)
        page.click("#deepbooru")
        page.wait_for_function("document.querySelector('#img2img_prompt textarea').value.startsWith('1girl, ')",
                               timeout=60_000)
        value = page.locator("#img2img_prompt textarea").input_value()
        screenshot(page, "img2img-deepbooru")
        assert value == r"1girl, back\\slash, blue sky, hat \(object\), long hair, smile"
    finally:
        page.context.close()
