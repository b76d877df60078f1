"""ControlNet in a real browser: enable a unit, drop a control image, 💥 shows the detected map, pick
the model, Generate; the picture's infotext has the unit and the gallery shows the map after it.
The ControlNet tab runs canny on an uploaded picture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from modules.models.sd_model import ModelFamily
from tests.browser.conftest import screenshot, start_live_server, write_json
from tests.fixtures.tiny_controlnets import build_tiny_controlnet, write_lllyasviel

pytestmark = pytest.mark.browser
TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def app_server(tiny_sd1: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    data = tmp_path_factory.mktemp("ui-controlnet")
    small = {f"{tab}/{key}/value": value for tab in ("txt2img", "img2img")
             for key, value in (("Width", 64), ("Height", 64), ("Sampling steps", 2))}
    write_json(data / "ui-config.json", small)
    write_lllyasviel(build_tiny_controlnet(ModelFamily.SD1), data / "models" / "ControlNet" / "control_tiny.pth")
    server = start_live_server(data, tiny_sd1)
    yield server
    server.stop()


def _square(path: Path) -> Path:
    image = np.zeros((64, 64, 3), np.uint8)
    image[16:48, 16:48] = 255
    Image.fromarray(image).save(path)
    return path


def _pick(page: Any, dropdown: str, option: str) -> None:
    page.click(f"{dropdown} input")
    page.get_by_role("option", name=option).first.click()


def test_enable_a_unit_drop_an_image_and_get_its_infotext(page: Any, tmp_path: Path) -> None:
    page.get_by_role("tab", name="txt2img", exact=True).first.click()
    page.click("#txt2img_controlnet button")  # open the accordion
    unit = "#txt2img_controlnet_0"
    page.set_input_files(f"{unit}_image input[type=file]", str(_square(tmp_path / "control.png")))
    page.check(f"{unit}_enable input")
    _pick(page, f"{unit}_module", "canny")
    page.click(f"{unit}_run_preprocessor")  # 💥: the unit's preview shows the detected map
    page.wait_for_selector(f"{unit}_preview img", timeout=TIMEOUT_MS)
    edges = page.evaluate(f"""(async () => {{
        const img = document.querySelector('{unit}_preview img');
        const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
        const g = c.getContext('2d'); g.drawImage(img, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data; let white = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] > 128) white++;
        return [c.width, white, d.length / 4];
    }})()""")
    assert edges[1] > 0 and edges[1] < edges[2] * 0.3  # thin edges of the square, not a copy of it
    page.click(f"{unit}_model input")
    page.get_by_role("option").filter(has_text="control_tiny [").first.click()
    page.fill("#txt2img_prompt textarea", "a red square")
    page.click("#txt2img_generate")
    page.wait_for_selector("#txt2img_gallery img", timeout=TIMEOUT_MS)
    page.wait_for_function("document.querySelector('#html_info_txt2img').innerText.includes('ControlNet 0')",
                           timeout=TIMEOUT_MS)
    info = page.inner_text("#html_info_txt2img")
    screenshot(page, "ui-controlnet-unit")
    assert 'ControlNet 0: "Module: canny, Model: control_tiny [' in info
    # the gallery holds the picture, then the unit's detected map (as the API's images do)
    page.wait_for_function("document.querySelectorAll('#txt2img_gallery .thumbnail-item').length === 2",
                           timeout=30_000)
    # ↙️ with the infotext in the prompt box restores the unit (here: enables it again)
    page.click("#txt2img_controlnet_unit_0_tab-button")
    page.uncheck(f"{unit}_enable input")
    page.fill("#txt2img_prompt textarea", info.split("\nTime taken")[0])
    page.click("#txt2img_paste")
    page.wait_for_function(f"document.querySelector('{unit}_enable input').checked", timeout=30_000)
    assert page.input_value("#txt2img_prompt textarea") == "a red square"
    page.click("#txt2img_controlnet_unit_1_tab-button")
    page.click("#txt2img_controlnet_1_use_output")  # 📥: the output becomes unit 1's control image
    page.wait_for_selector("#txt2img_controlnet_1_image img", timeout=30_000)


def test_controlnet_tab_runs_a_preprocessor(page: Any, tmp_path: Path) -> None:
    page.get_by_role("tab", name="ControlNet", exact=True).first.click()
    page.set_input_files("#controlnet_tab_image input[type=file]", str(_square(tmp_path / "tab.png")))
    page.click("#controlnet_tab_run")
    page.wait_for_selector("#controlnet_tab_result img", timeout=TIMEOUT_MS)
    assert "control_tiny [" in page.inner_text("#controlnet_tab_models")
    screenshot(page, "ui-controlnet-tab")


def test_img2img_unit_without_image_uses_the_input(page: Any, tmp_path: Path) -> None:
    page.get_by_role("tab", name="img2img", exact=True).first.click()
    page.set_input_files("#img2img_image input[type=file]", str(_square(tmp_path / "init.png")))
    page.click("#img2img_controlnet button")
    unit = "#img2img_controlnet_0"
    page.check(f"{unit}_enable input")
    page.click(f"{unit}_model input")
    page.get_by_role("option").filter(has_text="control_tiny [").first.click()
    page.fill("#img2img_prompt textarea", "a blue square")
    page.click("#img2img_generate")
    page.wait_for_function("document.querySelector('#html_info_img2img').innerText.includes('ControlNet 0')",
                           timeout=TIMEOUT_MS)
    assert 'ControlNet 0: "Module: none, Model: control_tiny [' in page.inner_text("#html_info_img2img")
