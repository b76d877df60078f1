"""The styles editor in a real browser: 🖌️ opens it, Save writes styles.csv and the new style
appears in the Styles lists of txt2img and img2img (📋 applies it), Delete removes it again."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from modules.styles import read_styles_csv
from tests.browser.conftest import LiveServer, open_app, screenshot, start_live_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app_server(tiny_sd1: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    server = start_live_server(tmp_path_factory.mktemp("ui-styles"), tiny_sd1)
    yield server
    server.stop()


@pytest.fixture
def page(app_server: LiveServer, chromium_browser: Any) -> Any:
    page = open_app(chromium_browser, app_server.url)
    yield page
    page.context.close()


def wait_for_styles(path: Path, expected: dict[str, tuple[str, str]], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        found = {s.name: (s.prompt, s.negative_prompt) for s in read_styles_csv(path)} if path.exists() else {}
        if found == expected or time.monotonic() > deadline:
            assert found == expected
            return
        time.sleep(0.1)


def options_of(page: Any, elem_id: str) -> list[str]:
    """The choices a dropdown offers (opened, read, closed again)."""
    page.click(f"#{elem_id} input")
    page.wait_for_selector(f"#{elem_id} input[aria-expanded=true]", timeout=5_000)
    names = page.locator(f"#{elem_id} [role=option]").evaluate_all(
        "items => items.map(i => i.getAttribute('aria-label'))")
    page.keyboard.press("Escape")
    page.locator(f"#{elem_id} input").blur()  # the next click opens it again
    return names


def pick_style_name(page: Any, name: str) -> None:
    page.fill("#txt2img_styles_edit_select input", name)
    page.keyboard.press("Enter")


def test_editor_saves_a_style_that_both_tabs_list_then_deletes_it(app_server: LiveServer, page: Any) -> None:
    styles_csv = app_server.runtime.styles.default_path
    page.fill("#txt2img_prompt textarea", "a cat")
    page.click("#txt2img_styles_edit_button")
    page.wait_for_selector("#txt2img_styles_dialog", state="visible")
    pick_style_name(page, "Night")
    page.fill("#txt2img_edit_style_prompt textarea", "{prompt} at night")
    page.fill("#txt2img_edit_style_neg_prompt textarea", "sun")
    screenshot(page, "ui-styles-editor")
    page.click("#txt2img_edit_style_save")
    wait_for_styles(styles_csv, {"Night": ("{prompt} at night", "sun")})
    page.click("#txt2img_edit_style_close")
    page.wait_for_selector("#txt2img_styles_dialog", state="hidden")

    assert options_of(page, "txt2img_styles") == ["Night"]
    page.click("#txt2img_styles input")
    page.click("#txt2img_styles [role=option][aria-label=Night]")
    page.click("#txt2img_style_apply")
    page.wait_for_function("document.querySelector('#txt2img_prompt textarea').value === 'a cat at night'")
    assert page.input_value("#txt2img_neg_prompt textarea") == "sun"

    page.get_by_role("tab", name="img2img", exact=True).first.click()
    assert options_of(page, "img2img_styles") == ["Night"]
    page.get_by_role("tab", name="txt2img", exact=True).first.click()

    page.click("#txt2img_styles_edit_button")
    pick_style_name(page, "Night")
    page.wait_for_function("document.querySelector('#txt2img_edit_style_prompt textarea').value"
                           " === '{prompt} at night'")
    page.once("dialog", lambda dialog: dialog.accept())  # "Delete style Night?"
    page.click("#txt2img_edit_style_delete")
    wait_for_styles(styles_csv, {})
    page.wait_for_function("document.querySelector('#txt2img_edit_style_prompt textarea').value === ''")
    page.click("#txt2img_edit_style_close")
    assert options_of(page, "txt2img_styles") == []
