"""Settings and UI defaults survive a restart; a login page guards the UI with --gradio-auth;
--theme applies; a corrupt config.json is set aside with a visible warning.

Each test starts real servers (runtime + FastAPI + gradio) on a shared data folder, exactly as
a user restarting the app would.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import LiveServer, open_app, screenshot

pytestmark = pytest.mark.browser


def set_number(page: Any, elem_id: str, value: float) -> None:
    page.fill(f"#{elem_id} input[type=number]", str(value))
    page.keyboard.press("Enter")


def open_tab(page: Any, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def test_settings_and_ui_defaults_persist_across_restart(server_factory: Callable[..., LiveServer],
                                                         chromium_browser: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = server_factory(data)
    page = open_app(chromium_browser, first.url)
    set_number(page, "txt2img_steps", 9)
    open_tab(page, "Settings")
    page.uncheck("#setting_samples_save input[type=checkbox]")
    page.click("#settings_submit")
    page.wait_for_function("document.querySelector('#settings_result').innerText.includes('samples_save')")
    assert "1 setting changed: samples_save" in page.inner_text("#settings_result")
    open_tab(page, "Defaults")
    page.click("#ui_defaults_apply")
    page.wait_for_function("document.querySelector('#ui_defaults_result').innerText"
                           ".includes('Sampling steps')")
    screenshot(page, "ui-settings-applied")
    page.context.close()
    first.stop()

    assert json.loads((data / "config.json").read_text(encoding="utf-8"))["samples_save"] is False
    ui_config = json.loads((data / "ui-config.json").read_text(encoding="utf-8"))
    assert ui_config["txt2img/Sampling steps/value"] == 9

    second = server_factory(data)
    page = open_app(chromium_browser, second.url)
    assert page.input_value("#txt2img_steps input[type=number]") == "9"
    open_tab(page, "Settings")
    page.wait_for_selector("#setting_samples_save input[type=checkbox]")
    assert not page.is_checked("#setting_samples_save input[type=checkbox]")
    page.context.close()


def test_login_page_theme_and_corrupt_config_warning(server_factory: Callable[..., LiveServer],
                                                     chromium_browser: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "config.json").write_text("{not json", encoding="utf-8")
    server = server_factory(data, ["--gradio-auth", "alice:s3cret,bob:pw", "--theme", "dark"])
    context = chromium_browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(server.url)
    page.wait_for_selector("input[type=password]", timeout=60_000)
    assert page.locator("#txt2img_generate").count() == 0, "the UI must stay hidden before login"
    screenshot(page, "ui-login")
    page.fill("input[type=text]", "alice")
    page.fill("input[type=password]", "wrong")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Incorrect", timeout=30_000)
    page.fill("input[type=text]", "alice")  # the login form clears its state after a failure
    page.fill("input[type=password]", "s3cret")
    page.keyboard.press("Enter")
    page.wait_for_selector("#txt2img_generate", timeout=60_000)
    page.wait_for_function("document.querySelector('#sdui_warnings').innerText.includes('config.json')")
    assert "was unreadable" in page.inner_text("#sdui_warnings")
    assert page.evaluate("document.body.classList.contains('dark')")
    assert list(data.glob("config.json.corrupt-*")), "the corrupt file is kept aside, never deleted"
    screenshot(page, "ui-after-login-dark")
    context.close()
