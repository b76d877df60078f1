"""What a newcomer meets in a real browser: the inpaint options follow img2img's sub-tabs whatever
the order of clicks, a second Generate click is never dropped silently, hover hints are there,
the live preview fills its box, and /docs and /redoc render with every outside request blocked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import screenshot, start_live_server, write_json

pytestmark = pytest.mark.browser
TIMEOUT_MS = 120_000
SUB_TABS = {
    "img2img": "img2img_img2img_tab",
    "Sketch": "img2img_img2img_sketch_tab",
    "Inpaint": "img2img_inpaint_tab",
    "Inpaint sketch": "img2img_inpaint_sketch_tab",
    "Inpaint upload": "img2img_inpaint_upload_tab",
    "Batch": "img2img_batch_tab",
}
INPAINT_TABS = {"Inpaint", "Inpaint sketch", "Inpaint upload"}
CONTROLS_SHOWN = """() => {
    const el = document.querySelector('#img2img_inpaint_controls');
    return !!el && el.getClientRects().length > 0 && !!el.querySelector('#img2img_mask_blur');
}"""


@pytest.fixture(scope="module")
def app_server(tiny_sd1: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    data = tmp_path_factory.mktemp("ui-newcomer")
    small = {f"{tab}/{key}/value": value for tab in ("txt2img", "img2img")
             for key, value in (("Width", 64), ("Height", 64), ("Sampling steps", 2))}
    write_json(data / "ui-config.json", small)
    write_json(data / "config.json", {"live_preview_refresh_period": 100, "show_progress_every_n_steps": 1})
    server = start_live_server(data, tiny_sd1, ["--api"])
    yield server
    server.stop()


def every_transition(names: list[str]) -> list[str]:
    """A walk through the sub-tabs that goes from every sub-tab to every other one directly
    (an Euler circuit of the complete directed graph): 31 clicks cover all 30 ordered pairs."""
    unused = {a: [b for b in names if b != a] for a in names}
    stack, walk = [names[0]], []
    while stack:
        here = stack[-1]
        if unused[here]:
            stack.append(unused[here].pop())
        else:
            walk.append(stack.pop())
    return walk[::-1]


def open_sub_tab(page: Any, name: str) -> None:
    # The sub-tab row overflows into gradio's "more" menu in a half-width column: click it by id.
    page.evaluate(f"document.querySelector('#{SUB_TABS[name]}-button').click()")


def expect_controls(page: Any, shown: bool, where: str) -> None:
    check = f"() => ({CONTROLS_SHOWN})() === {'true' if shown else 'false'}"
    try:
        page.wait_for_function(check, timeout=30_000)  # a first visit mounts a heavy image editor
    except Exception:  # playwright's TimeoutError: say which click went wrong
        screenshot(page, "ui-inpaint-controls")
        pytest.fail(f"inpaint options {'hidden' if shown else 'shown'} after {where}")


def test_inpaint_controls_follow_every_order_of_sub_tab_clicks(page: Any) -> None:
    page.get_by_role("tab", name="img2img", exact=True).first.click()
    expect_controls(page, False, "opening img2img")
    walk = every_transition(list(SUB_TABS))
    pairs = set(zip(walk, walk[1:]))
    assert len(pairs) == 30
    previous = "img2img"
    for name in walk:
        open_sub_tab(page, name)
        expect_controls(page, name in INPAINT_TABS, f"{previous} -> {name}")
        previous = name
    # Leaving the tab and coming back keeps them with the sub-tab.
    open_sub_tab(page, "Inpaint sketch")
    page.get_by_role("tab", name="txt2img", exact=True).first.click()
    page.get_by_role("tab", name="img2img", exact=True).first.click()
    expect_controls(page, True, "txt2img and back to Inpaint sketch")
    open_sub_tab(page, "img2img")
    expect_controls(page, False, "back to img2img")


def box(page: Any, selector: str) -> dict[str, float]:
    return page.evaluate("(s) => { const r = document.querySelector(s).getBoundingClientRect();"
                         " return {x: r.x, y: r.y, width: r.width, height: r.height}; }", selector)


def shown(page: Any, selector: str) -> bool:
    return bool(page.evaluate("(s) => { const e = document.querySelector(s);"
                              " return !!e && e.getClientRects().length > 0; }", selector))


def set_slider(page: Any, elem_id: str, value: int) -> None:
    number = page.locator(f"#{elem_id} input[type=number]")
    number.fill(str(value))
    number.press("Enter")


def test_generate_becomes_interrupt_and_the_preview_fills_one_stable_area(page: Any) -> None:
    page.get_by_role("tab", name="txt2img", exact=True).first.click()
    assert shown(page, "#txt2img_generate")
    assert not shown(page, "#txt2img_interrupt") and not shown(page, "#txt2img_skip"), "shown while idle"
    set_slider(page, "txt2img_steps", 150)
    set_slider(page, "txt2img_batch_count", 20)
    area_before = box(page, "#txt2img_gallery_container")
    page.click("#txt2img_generate")
    # The second click cannot be lost: Generate makes way for Interrupt and Skip at once.
    page.wait_for_function("() => !document.querySelector('#txt2img_generate').getClientRects().length",
                           timeout=5_000)
    assert shown(page, "#txt2img_interrupt") and shown(page, "#txt2img_skip")
    page.wait_for_selector("#txt2img_preview img", timeout=TIMEOUT_MS)
    natural = page.evaluate("document.querySelector('#txt2img_preview img').naturalWidth")
    shown_box = box(page, "#txt2img_preview img")
    area = box(page, "#txt2img_gallery_container")
    screenshot(page, "ui-live-preview")
    assert natural == 8, "a 64x64 picture's preview is decoded at 1/8 of its size"
    assert shown_box["width"] >= 0.95 * area["width"] and shown_box["height"] >= 0.95 * area["height"]
    assert area["height"] >= 400
    assert abs(area["y"] - area_before["y"]) < 1 and abs(area["height"] - area_before["height"]) < 1
    page.wait_for_function("() => document.querySelector('#txt2img_progress').innerText.includes('Batch 2/')",
                           timeout=TIMEOUT_MS)
    page.click("#txt2img_interrupt")
    page.wait_for_function("() => document.querySelector('#txt2img_generate').getClientRects().length > 0",
                           timeout=TIMEOUT_MS)
    page.wait_for_selector("#txt2img_gallery img", timeout=TIMEOUT_MS)
    assert not shown(page, "#txt2img_interrupt") and not shown(page, "#txt2img_preview img")
    area_after = box(page, "#txt2img_gallery_container")
    assert abs(area_after["y"] - area_before["y"]) < 1 and abs(area_after["height"] - area_before["height"]) < 1
    assert "Interrupted" in page.inner_text("#html_log_txt2img")
    set_slider(page, "txt2img_steps", 2)
    set_slider(page, "txt2img_batch_count", 1)


@pytest.mark.parametrize("path, route_shown", [
    ("/docs", ".opblock-summary-path[data-path='/sdapi/v1/txt2img']"),
    ("/redoc", ":text('/sdapi/v1/txt2img')"),
    ("/", "#txt2img_generate"),
])
def test_pages_render_with_every_outside_request_blocked(app_server: Any, chromium_browser: Any, path: str,
                                                         route_shown: str) -> None:
    context = chromium_browser.new_context(viewport={"width": 1200, "height": 900})
    blocked: list[str] = []

    def only_this_server(route: Any) -> None:
        if route.request.url.startswith(app_server.url):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_this_server)
    page = context.new_page()
    try:
        page.goto(app_server.url + path)
        page.wait_for_selector(route_shown, state="attached", timeout=60_000)
        page.wait_for_load_state("load")
        page.wait_for_timeout(1_500)  # late requests (fonts, images) have their chance to be caught
        screenshot(page, f"ui-offline-{path.strip('/') or 'root'}")
    finally:
        context.close()
    assert blocked == [], f"{path} asked for outside resources: {blocked}"


def test_width_100_is_rounded_and_said_and_an_error_keeps_the_previous_picture(page: Any) -> None:
    page.get_by_role("tab", name="txt2img", exact=True).first.click()
    page.fill("#txt2img_prompt textarea", "a red circle")
    set_slider(page, "txt2img_width", 100)
    page.click("#txt2img_generate")
    page.wait_for_function("document.querySelector('#html_log_txt2img').innerText.includes('rounded down to 96')",
                           timeout=TIMEOUT_MS)
    page.wait_for_function("document.querySelector('#html_info_txt2img').innerText.includes('Size: 96x64')",
                           timeout=TIMEOUT_MS)
    page.wait_for_selector("#txt2img_gallery img", timeout=TIMEOUT_MS)
    log_box, area = box(page, "#html_log_txt2img"), box(page, "#txt2img_gallery_container")
    assert 0 <= log_box["y"] - (area["y"] + area["height"]) < 40, "the note sits right under the picture"
    set_slider(page, "txt2img_width", 64)
    set_slider(page, "txt2img_batch_size", 8)
    set_slider(page, "txt2img_batch_count", 9)  # 72 images: more than one job may make
    page.click("#txt2img_generate")
    page.wait_for_function("document.querySelector('#html_log_txt2img').innerText.includes('at most')",
                           timeout=TIMEOUT_MS)
    page.wait_for_function("() => document.querySelector('#txt2img_generate').getClientRects().length > 0",
                           timeout=TIMEOUT_MS)
    screenshot(page, "ui-error-keeps-result")
    assert page.locator("#txt2img_gallery img").count() >= 1, "the previous picture must stay"
    assert "Size: 96x64" in page.inner_text("#html_info_txt2img")
    set_slider(page, "txt2img_batch_size", 1)
    set_slider(page, "txt2img_batch_count", 1)


LABEL_TITLE = """(text) => {
    const found = document.querySelectorAll("span[data-testid='block-info'], .label-wrap > span, label > span");
    const spans = Array.from(found);
    const span = spans.find(s => s.textContent.trim() === text);
    return span ? span.title : null;
}"""


def test_labels_and_send_buttons_have_hints_and_icons_are_svg(page: Any) -> None:
    page.get_by_role("tab", name="txt2img", exact=True).first.click()
    page.wait_for_timeout(500)
    titles = {label: page.evaluate(LABEL_TITLE, label)
              for label in ("Sampling steps", "CFG Scale", "Seed", "Clip skip", "Width", "Sampling method")}
    assert all(titles.values()), titles
    assert "1 ignores the prompt" in titles["CFG Scale"] and "burn" in titles["CFG Scale"]
    for send in ("#txt2img_send_to_img2img", "#txt2img_send_to_inpaint"):
        assert "Send the picture" in (page.get_attribute(send, "title") or ""), send
    icons = page.evaluate("""() => Array.from(document.querySelectorAll('button.sdui-tool')).map(b => {
        const before = getComputedStyle(b, '::before');
        return {id: b.id, image: before.backgroundImage, width: before.width,
                textSize: getComputedStyle(b).fontSize};
    })""")
    assert len(icons) >= 8
    for icon in icons:
        assert icon["image"].startswith('url("data:image/svg+xml'), icon
        assert icon["width"] == "20px" and icon["textSize"] == "0px", icon
    page.click("#txt2img_sampling input")  # the open list's entries carry the samplers' own hints
    adaptive = page.locator("li[role='option']", has_text="DPM adaptive").first
    adaptive.wait_for(timeout=10_000)
    page.wait_for_function("() => Array.from(document.querySelectorAll(\"li[role='option']\"))"
                           ".some(li => li.title.startsWith('Ignores Sampling steps'))", timeout=10_000)
    page.keyboard.press("Escape")
    page.get_by_role("tab", name="img2img", exact=True).first.click()
    page.wait_for_function(f"({LABEL_TITLE})('Denoising strength')", timeout=10_000)
    assert "0 keeps it unchanged" in page.evaluate(LABEL_TITLE, "Denoising strength")
    screenshot(page, "ui-icons-and-hints")
