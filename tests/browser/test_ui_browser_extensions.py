"""The path a person follows, by A1111's labels: Extensions → "Install from URL" → "URL for
extension's git repository" → "Install" → "Installed" → "Apply and restart UI"; after the restart
the style selector's accordion is on txt2img, a chosen style rewrites the prompt and its keys are
in the infotext."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import LiveServer, open_app, screenshot
from tests.fixtures.extensions import git_repo, styler_files, write_extension

pytestmark = pytest.mark.browser
GENERATION_TIMEOUT_MS = 120_000


def visible_button(page: Any, label: str) -> Any:
    return page.get_by_role("button", name=label, exact=True).filter(visible=True)


def test_install_from_url_apply_and_use_the_script(server_factory: Callable[..., LiveServer],
                                                   chromium_browser: Any, tmp_path: Path) -> None:
    url = git_repo(write_extension(tmp_path / "src" / "prompt-styler", styler_files()))
    data = tmp_path / "data"
    first = server_factory(data)
    restarts: list[int] = []
    first.runtime.extensions.manager.restart = lambda: restarts.append(1)  # the re-exec, observed
    page = open_app(chromium_browser, first.url)
    page.get_by_role("tab", name="Extensions", exact=True).click()
    page.get_by_role("tab", name="Install from URL", exact=True).click()
    page.get_by_label("URL for extension's git repository").fill(url)
    visible_button(page, "Install").click()
    page.wait_for_function("document.querySelector('#extension_install_result').innerText.includes('Installed into')")
    page.get_by_role("tab", name="Installed", exact=True).click()
    page.wait_for_function("document.querySelector('#extensions_installed_html').innerText.includes('prompt-styler')")
    visible_button(page, "Apply and restart UI").click()
    page.wait_for_function("document.querySelector('#extensions_installed_result').innerText.includes('Restarting')")
    assert restarts == [1]
    assert json.loads((data / "config.json").read_text())["disabled_extensions"] == []
    screenshot(page, "ui-extensions-installed")
    page.context.close()
    first.stop()

    second = server_factory(data)  # what the re-exec starts: same flags, same data folder
    page = open_app(chromium_browser, second.url)
    tab = page.locator("#tab_txt2img")
    assert tab.get_by_label("Enable Prompt Styler").is_checked()
    tab.get_by_label("Style", exact=True).click()
    page.get_by_role("option", name="cinematic").click()
    page.fill("#txt2img_prompt textarea", "a cat")
    for elem_id, value in (("txt2img_steps", 2), ("txt2img_width", 64), ("txt2img_height", 64)):
        page.fill(f"#{elem_id} input[type=number]", str(value))
        page.keyboard.press("Enter")
    page.click("#txt2img_generate")
    page.wait_for_selector("#txt2img_gallery img", timeout=GENERATION_TIMEOUT_MS)
    page.wait_for_function("document.querySelector('#html_info_txt2img').innerText.includes('Prompt Styler')")
    info = page.inner_text("#html_info_txt2img")
    screenshot(page, "ui-extensions-script-used")
    assert info.startswith("cinematic still of a cat, film grain")
    assert "Prompt Styler Enabled: True" in info and "Prompt Styler Style: cinematic" in info

    # A selectable A1111 script (run() -> process_images) from the Script dropdown, with its slider.
    tab.get_by_label("Script", exact=True).click()
    page.get_by_role("option", name="Prompt Repeater").click()
    page.locator("#script_txt2img_prompt_repeater input[type=number]").fill("3")
    page.keyboard.press("Enter")
    page.click("#txt2img_generate")
    page.wait_for_function("document.querySelector('#html_info_txt2img').innerText.includes('Repeat times')",
                           timeout=GENERATION_TIMEOUT_MS)
    info = page.inner_text("#html_info_txt2img")
    screenshot(page, "ui-extensions-selectable-script")
    # run() repeats p.prompt; process_images builds all_prompts, then the styler's process() styles them
    assert info.startswith("cinematic still of a cat, a cat, a cat, film grain")
    assert "Repeat times: 3" in info and "Prompt Styler Style: cinematic" in info
    page.context.close()
