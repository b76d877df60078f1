"""A card page an A1111-style extension registered (`ui_extra_networks.register_page`) in a real
browser: its tab beside Lora, its card with the preview, a click inserts `<shift:abc:1>` into the
prompt and a second click removes it; the card has no notes editor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.browser.conftest import open_app, screenshot, start_live_server
from tests.fixtures.extensions import write_extension
from tests.test_extensions_extra_networks import A1111_NETWORK

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app_server(tiny_sd1: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    data = tmp_path_factory.mktemp("ui-extension-cards")
    folder = write_extension(data / "extensions" / "shiftnet", {"scripts/shiftnet.py": A1111_NETWORK})
    Image.new("RGB", (24, 24), (10, 200, 30)).save(folder / "abc.png")
    server = start_live_server(data, tiny_sd1)
    yield server
    server.stop()


def test_extension_card_page_inserts_and_removes_its_tag(app_server: Any, chromium_browser: Any) -> None:
    page = open_app(chromium_browser, app_server.url)
    root = "#txt2img_extra_networks"
    textarea = "#txt2img_prompt textarea"
    try:
        page.fill(textarea, "a cat")
        page.click(f"{root} .sdui-en-tab[data-page=shift_nets]")
        page.wait_for_function(f"document.querySelectorAll('{root} .sdui-en-card').length === 1", timeout=15000)
        card = page.locator(f"{root} .sdui-en-card")
        assert "An ABC shift" in card.inner_text()
        assert card.locator(".sdui-en-edit").count() == 0
        page.wait_for_function(f"document.querySelector('{root} .sdui-en-card img').complete", timeout=10000)
        assert card.locator("img").evaluate("img => img.naturalWidth") == 24
        card.click()
        page.wait_for_function(f"document.querySelector('{textarea}').value.includes('<shift:abc:1>')",
                               timeout=10000)
        assert page.input_value(textarea) == "a cat <shift:abc:1>"
        card.click()
        page.wait_for_function(f"!document.querySelector('{textarea}').value.includes('<shift:')", timeout=10000)
        assert page.input_value(textarea) == "a cat"
    finally:
        screenshot(page, "extension-cards")
        page.context.close()
