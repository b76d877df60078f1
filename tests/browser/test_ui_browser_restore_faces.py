"""The "Restore faces" checkbox, A1111's way: it appears in txt2img only because the setting
"Settings for txt2img" (`extra_options_txt2img`) names `face_restoration`; ticking it restores the
faces of the picture (tiny RestoreFormer in models/GFPGAN, a detector that reports one face at a
fixed place) and writes `Face restoration: GFPGAN`; pasting that infotext ticks it again."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.browser.conftest import LiveServer, screenshot, start_live_server, write_json
from tests.fixtures.tiny_faces import write_tiny_restoreformer
from tests.test_face_restoration import FixedFaces

pytestmark = pytest.mark.browser
TIMEOUT_MS = 120_000
BOX = "#txt2img_setting_face_restoration input[type=checkbox]"


@pytest.fixture(scope="module")
def app_server(tiny_sd1: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("ui-restore-faces")
    write_json(data / "ui-config.json", {"txt2img/Width/value": 64, "txt2img/Height/value": 64,
                                         "txt2img/Sampling steps/value": 2, "txt2img/Seed/value": 4})
    write_json(data / "config.json", {"extra_options_txt2img": ["face_restoration"],
                                      "face_restoration_model": "GFPGAN"})
    write_tiny_restoreformer(data / "models" / "GFPGAN" / "tiny.safetensors")
    server = start_live_server(data, tiny_sd1)
    server.runtime.faces = dataclasses.replace(server.runtime.faces, detector=FixedFaces((4.0, 6.0), 0.08))
    yield server
    server.stop()


def _generate(page: Any, server: LiveServer, before: int) -> tuple[str, np.ndarray]:
    page.click("#txt2img_generate")
    folder = server.data_dir / "outputs" / "txt2img-images"
    page.wait_for_function("document.querySelector('#html_info_txt2img').innerText.includes('Seed: 4')"
                           " && document.querySelectorAll('#txt2img_gallery img').length > 0", timeout=TIMEOUT_MS)
    saved = sorted(folder.rglob("*.png"))
    assert len(saved) == before + 1
    return page.inner_text("#html_info_txt2img"), np.asarray(Image.open(saved[-1]).convert("RGB"), dtype=int)


def test_checkbox_from_the_setting_restores_faces_and_pastes_back(page: Any, app_server: LiveServer) -> None:
    assert page.locator(BOX).is_visible() and not page.locator(BOX).is_checked()
    assert page.locator("#img2img_setting_face_restoration").count() == 0  # only txt2img was asked for
    page.fill("#txt2img_prompt textarea", "a face")
    plain_info, plain = _generate(page, app_server, 0)
    assert "Face restoration" not in plain_info
    page.check(BOX)
    page.fill("#txt2img_prompt textarea", "a face ")  # a new infotext to wait for
    page.wait_for_timeout(200)
    page.click("#txt2img_generate")
    page.wait_for_function("document.querySelector('#html_info_txt2img').innerText.includes('Face restoration')",
                           timeout=TIMEOUT_MS)
    info = page.inner_text("#html_info_txt2img")
    screenshot(page, "ui-restore-faces")
    assert "Face restoration: GFPGAN" in info
    saved = sorted((app_server.data_dir / "outputs" / "txt2img-images").rglob("*.png"))
    restored = np.asarray(Image.open(saved[-1]).convert("RGB"), dtype=int)
    assert np.array_equal(plain[50:, :], restored[50:, :])  # below the face frame: untouched
    assert np.abs(plain[20:30, 15:30] - restored[20:30, 15:30]).mean() > 5  # the face was restored
    assert not app_server.runtime.settings.get("face_restoration")  # the stored setting did not change
    # ↙️ with the infotext: the checkbox is ticked again from "Face restoration: GFPGAN"
    page.uncheck(BOX)
    page.fill("#txt2img_prompt textarea", info.split("\nTime taken")[0])
    page.click("#txt2img_paste")
    page.wait_for_function(f"document.querySelector('{BOX}').checked", timeout=30_000)
