"""In Chromium: an extension's JavaScript written against A1111's page helpers runs: gradioApp(),
onUiLoaded (once, with the prompt box on the page), onUiUpdate, onAfterUiUpdate and onUiTabChange."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import LiveServer, open_app
from tests.fixtures.extensions import write_extension

pytestmark = pytest.mark.browser

PAGE_JS = """
window.seenByExt = {loaded: 0, updates: 0, after: 0, tabs: 0, prompt: null};
onUiLoaded(function () {
  seenByExt.loaded += 1;
  seenByExt.prompt = gradioApp().querySelector('#txt2img_prompt textarea') !== null;
});
onUiUpdate(function () { seenByExt.updates += 1; });
onAfterUiUpdate(function () { seenByExt.after += 1; });
onUiTabChange(function () { seenByExt.tabs += 1; seenByExt.tab = get_uiCurrentTab().textContent.trim(); });
onUiUpdate(function () { throw new Error('one broken callback'); });
"""


def test_extension_javascript_gets_a1111_page_callbacks(
        server_factory: Callable[..., LiveServer], chromium_browser: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_extension(data / "extensions" / "page-js", {"javascript/page.js": PAGE_JS})
    server = server_factory(data)
    page = open_app(chromium_browser, server.url)
    try:
        page.wait_for_function("window.seenByExt && seenByExt.loaded === 1 && seenByExt.after > 0")
        seen = page.evaluate("seenByExt")
        assert seen["prompt"] is True and seen["updates"] > 0
        page.get_by_role("tab", name="img2img", exact=True).first.click()
        page.wait_for_function("seenByExt.tabs >= 1")
        assert page.evaluate("seenByExt.tab") == "img2img" and page.evaluate("seenByExt.loaded") == 1
    finally:
        page.context.close()
        server.stop()
