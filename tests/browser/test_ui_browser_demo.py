"""A fresh install's first picture: no checkpoint of the user's, so the shipped demo model is loaded,
the page starts at its recommended settings and prompt, and Generate (nothing typed) draws that
prompt, with the demo's name and hash in the infotext. Offline, as everything here."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from modules.paths import DEMO_MODEL_FILE
from modules.training.judge import judge_image
from tests.browser.conftest import open_app, screenshot, start_live_server

pytestmark = pytest.mark.browser


def test_generate_with_the_default_prompt_draws_the_demo_picture(chromium_browser: Any, tmp_path: Path) -> None:
    server = start_live_server(tmp_path / "data", None, ["--models-dir", str(tmp_path / "empty-models")])
    try:
        page = open_app(chromium_browser, server.url)
        assert page.input_value("#txt2img_prompt textarea") == "a red circle on a blue background"
        assert page.input_value("#txt2img_width input[type=number]") == "64"
        page.click("#txt2img_generate")
        page.wait_for_function("document.querySelector('#html_info_txt2img').innerText.includes('Model hash')",
                               timeout=120_000)
        info = page.inner_text("#html_info_txt2img")
        screenshot(page, "ui-demo-first-picture")
        short = hashlib.sha256(DEMO_MODEL_FILE.read_bytes()).hexdigest()[:10]
        assert f"Model hash: {short}" in info and "Model: demo-shapes" in info
        assert "Size: 64x64" in info and "Sampler: Euler" in info and "CFG scale: 3" in info
        saved = sorted((tmp_path / "data" / "outputs" / "txt2img-images").rglob("*.png"))
        assert saved and re.fullmatch(r"\d{5}-\d+\.png", saved[-1].name)
        verdict = judge_image(Image.open(saved[-1]).convert("RGB"))
        assert (verdict.background, verdict.colour) == ("blue", "red"), verdict
        page.context.close()
    finally:
        server.stop()
