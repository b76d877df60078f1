"""In Chromium: an A1111-style script's widgets are filled by the ↙️ paste button from the keys of
its `infotext_fields`, an event it wired to our prompt box (found in `after_component`) runs, and a
selectable extension script is in img2img's Script dropdown with its UI shown when chosen."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import LiveServer, open_app, screenshot
from tests.fixtures.extension_ui import GRABBER, SUFFIXER
from tests.fixtures.extensions import write_extension

pytestmark = pytest.mark.browser
INFOTEXT = 'a cat\nSteps: 3, Sampler: Euler, Size: 64x64, Grab enabled: True, Grab strength: 0.7, Grab note: "hi"'


def test_paste_fills_script_widgets_and_img2img_lists_the_script(
        server_factory: Callable[..., LiveServer], chromium_browser: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_extension(data / "extensions" / "grabber", {"scripts/grabber.py": GRABBER})
    write_extension(data / "extensions" / "suffixer", {"scripts/suffixer.py": SUFFIXER})
    server = server_factory(data)
    page = open_app(chromium_browser, server.url)
    try:
        assert not page.locator("#script_txt2img_grabber_enabled input").is_checked()
        page.fill("#txt2img_prompt textarea", INFOTEXT)
        page.click("#txt2img_paste")
        page.wait_for_function(
            "document.querySelector('#script_txt2img_grabber_strength input[type=number]').value == '0.7'")
        assert page.locator("#script_txt2img_grabber_enabled input").is_checked()
        assert page.input_value("#script_txt2img_grabber_note textarea") == "hi"
        assert page.input_value("#txt2img_steps input[type=number]") == "3"
        assert page.input_value("#txt2img_prompt textarea") == "a cat"
        # the extension wired our prompt box (grabbed in after_component) to its own textbox in ui()
        page.wait_for_function("document.querySelector('#script_txt2img_grabber_echo textarea').value == 'A CAT'")
        screenshot(page, "ui-extension-script-paste")

        page.get_by_role("tab", name="img2img", exact=True).first.click()
        tab = page.locator("#tab_img2img")
        assert not tab.get_by_label("Suffix", exact=True).is_visible()
        tab.get_by_label("Script", exact=True).click()
        page.get_by_role("option", name="Prompt Suffixer").click()
        tab.get_by_label("Suffix", exact=True).wait_for(state="visible")
        assert tab.get_by_label("Suffix", exact=True).input_value() == "sharp"
        screenshot(page, "ui-extension-img2img-script")
    finally:
        page.context.close()
        server.stop()
