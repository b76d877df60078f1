"""img2img in a real browser: Inpaint upload (image + mask) gives an image back, and
"Send to img2img" carries a txt2img result and its parameters over."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.browser.conftest import screenshot, start_live_server, write_json

pytestmark = pytest.mark.browser
TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def app_server(tiny_sd1: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    data = tmp_path_factory.mktemp("ui-img2img")
    small = {f"{tab}/{key}/value": value for tab in ("txt2img", "img2img")
             for key, value in (("Width", 64), ("Height", 64), ("Sampling steps", 2))}
    write_json(data / "ui-config.json", small)
    server = start_live_server(data, tiny_sd1)
    yield server
    server.stop()


def test_inpaint_upload_returns_an_image_with_inpaint_infotext(page: Any, tmp_path: Path) -> None:
    base = tmp_path / "base.png"
    mask = tmp_path / "mask.png"
    Image.new("RGB", (64, 64), (30, 120, 200)).save(base)
    m = Image.new("L", (64, 64), 0)
    m.paste(255, (16, 16, 48, 48))
    m.save(mask)
    page.get_by_role("tab", name="img2img", exact=True).first.click()
    # The sub-tab row overflows into gradio's "more" menu in a half-width column: click it by id.
    page.evaluate("document.querySelector('#img2img_inpaint_upload_tab-button').click()")
    page.set_input_files("#img_inpaint_base input[type=file]", str(base))
    page.set_input_files("#img_inpaint_mask input[type=file]", str(mask))
    page.fill("#img2img_prompt textarea", "a red square")
    page.click("#img2img_generate")
    page.wait_for_selector("#img2img_gallery img", timeout=TIMEOUT_MS)
    page.wait_for_function("document.querySelector('#html_info_img2img').innerText.includes('Mask blur')",
                           timeout=TIMEOUT_MS)
    info = page.inner_text("#html_info_img2img")
    screenshot(page, "ui-img2img-inpaint-upload")
    assert info.startswith("a red square") and "Denoising strength: 0.75" in info
    widths = page.evaluate("Array.from(document.querySelectorAll('#img2img_gallery img')).map(i => i.naturalWidth)")
    assert widths and set(widths) == {64}


def test_send_to_img2img_carries_image_and_prompt(page: Any) -> None:
    page.get_by_role("tab", name="txt2img", exact=True).first.click()
    page.fill("#txt2img_prompt textarea", "a green circle")
    page.click("#txt2img_generate")
    page.wait_for_selector("#txt2img_gallery img", timeout=TIMEOUT_MS)
    page.wait_for_function("document.querySelector('#html_info_txt2img').innerText.includes('Steps')",
                           timeout=TIMEOUT_MS)
    page.click("#txt2img_send_to_img2img")
    page.wait_for_function("document.querySelector('#img2img_prompt textarea').value === 'a green circle'",
                           timeout=30_000)
    page.wait_for_selector("#img2img_image img", timeout=30_000)
    screenshot(page, "ui-send-to-img2img")
