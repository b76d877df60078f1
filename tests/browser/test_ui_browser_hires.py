"""Hires. fix in the browser: open the accordion, tick it, Generate, get a 2x picture whose
infotext carries the Hires keys (tiny SD1 model, Latent upscaler)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.browser.conftest import LiveServer, screenshot, start_live_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app_server(tiny_sd1: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_live_server(tmp_path_factory.mktemp("hires-ui"), tiny_sd1)
    yield server
    server.stop()


def _set_slider(page: Any, elem: str, value: int) -> None:
    box = page.locator(f"#{elem} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def test_ticking_hires_fix_doubles_the_picture(page: Any, app_server: LiveServer) -> None:
    _set_slider(page, "txt2img_steps", 2)
    _set_slider(page, "txt2img_width", 64)
    _set_slider(page, "txt2img_height", 64)
    page.click("#txt2img_hr > button")  # open the accordion
    page.check("#txt2img_enable_hr input[type=checkbox]")
    _set_slider(page, "txt2img_hires_steps", 2)
    page.wait_for_function("document.querySelector('#txt2img_hr_size_info').innerText.includes('128x128')",
                           timeout=10_000)
    page.click("#txt2img_generate")
    page.wait_for_function("document.querySelector('#html_info_txt2img').innerText.includes('Hires upscale')",
                           timeout=120_000)
    info = page.inner_text("#html_info_txt2img")
    screenshot(page, "ui-hires-fix")
    assert "Hires upscale: 2" in info and "Hires steps: 2" in info and "Size: 64x64" in info
    assert "Denoising strength: 0.7" in info
    saved = sorted((app_server.data_dir / "outputs" / "txt2img-images").rglob("*.png"))
    assert saved and Image.open(saved[-1]).size == (128, 128)
