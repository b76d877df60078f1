"""The assembled page without a browser: widget ids and defaults, Settings apply, paste updates,
the generate handler's error path, page assets, and the login guard of the mounted app.

Uses a real Runtime on an empty data folder (no checkpoint: nothing heavy loads).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("gradio")

import gradio as gr  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from modules.cmd_args import parse_args  # noqa: E402
from modules.runtime import build_runtime  # noqa: E402
from modules.ui.blocks import create_blocks  # noqa: E402
from modules.ui.build_context import UiBuild  # noqa: E402
from modules.ui.mount import mount_ui  # noqa: E402
from modules.ui.output_panel import OutputPanel  # noqa: E402
from modules.ui.page_assets import page_css, page_head  # noqa: E402
from modules.ui.paste_actions import PastePlan  # noqa: E402
from modules.ui.paste_wiring import field_updates  # noqa: E402
from modules.ui.settings import apply_settings, build_sections  # noqa: E402
from modules.ui.txt2img import make_generate  # noqa: E402
from modules.ui.ui_config import UiConfig  # noqa: E402


def _runtime(data: Path, *flags: str) -> Any:
    return build_runtime(parse_args(["--data-dir", str(data), "--no-demo-model", "--no-hashing", *flags],
                                    environ={}))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Any:
    data = tmp_path_factory.mktemp("blocks")
    (data / "ui-config.json").write_text(json.dumps({"txt2img/Sampling steps/value": 33}), encoding="utf-8")
    runtime = _runtime(data)
    demo = create_blocks(runtime)
    components = {c["props"]["elem_id"]: c for c in demo.config["components"] if c["props"].get("elem_id")}
    yield runtime, demo, components
    runtime.shutdown()


A1111_IDS = (
    "txt2img_prompt", "txt2img_neg_prompt", "txt2img_generate", "txt2img_interrupt", "txt2img_skip",
    "txt2img_styles", "txt2img_sampling", "txt2img_scheduler", "txt2img_steps", "txt2img_width",
    "txt2img_height", "txt2img_res_switch_btn", "txt2img_batch_count", "txt2img_batch_size",
    "txt2img_cfg_scale", "txt2img_seed",
    "txt2img_random_seed", "txt2img_reuse_seed", "txt2img_subseed", "txt2img_subseed_strength",
    "txt2img_seed_resize_from_w", "txt2img_seed_resize_from_h", "txt2img_tiling", "script_list",
    "txt2img_gallery", "html_info_txt2img", "save_txt2img", "save_zip_txt2img", "pnginfo_image",
    "pnginfo_send_txt2img", "setting_sd_model_checkpoint", "setting_sd_vae",
    "setting_CLIP_stop_at_last_layers",
)
SETTINGS_IDS = ("settings_submit", "setting_samples_save", "setting_show_progress_every_n_steps",
                "setting_jpeg_quality", "ui_defaults_apply")


def test_page_has_a1111_element_ids(built: Any) -> None:
    _, _, components = built
    missing = [i for i in A1111_IDS if i not in components]
    assert missing == []


def test_defaults_come_from_ui_config_and_the_registry(built: Any) -> None:
    runtime, _, c = built
    assert c["txt2img_steps"]["props"]["value"] == 33
    assert (c["txt2img_width"]["props"]["value"], c["txt2img_cfg_scale"]["props"]["value"]) == (512, 7.0)
    sampler_choices = [choice[1] for choice in c["txt2img_sampling"]["props"]["choices"]]
    assert sampler_choices == [s.name for s in runtime.samplers.list()] and sampler_choices[0] == "DPM++ 2M"
    assert c["setting_sd_vae"]["props"]["value"] == "Automatic"
    written = json.loads(runtime.paths.ui_config_file.read_text(encoding="utf-8"))
    assert written["txt2img/Sampling steps/value"] == 33 and written["txt2img/Width/value"] == 512


def test_send_to_buttons_wait_for_their_tabs(built: Any) -> None:
    _, _, c = built
    assert c["txt2img_send_to_extras"]["props"]["interactive"] is False  # Extras has no tab yet
    assert c["pnginfo_send_extras"]["props"]["interactive"] is False
    for target in ("img2img", "inpaint"):  # their tab exists: the buttons work
        assert c[f"txt2img_send_to_{target}"]["props"].get("interactive") is not False
        assert c[f"pnginfo_send_{target}"]["props"].get("interactive") is not False


def _sections_config(runtime: Any, quick: tuple[str, ...]) -> list[str]:
    """elem_ids of the Settings sections as the tab renders them when opened."""
    ui = UiBuild(runtime, UiConfig(runtime.paths.ui_config_file))
    with gr.Blocks() as demo:
        ui.quick = {key: gr.Textbox() for key in quick}
        build_sections(ui)
    return [c["props"].get("elem_id") for c in demo.config["components"]]


def test_settings_sections_are_rendered_when_the_tab_opens(built: Any) -> None:
    runtime, demo, components = built
    assert "settings_warnings" in components and "settings_submit" not in components  # not in the page
    renders = [d for d in demo.config["dependencies"] if d.get("render_id") is not None]
    assert renders, "the Settings tab has no render event"
    ids = _sections_config(runtime, ("sd_model_checkpoint",))
    assert [i for i in SETTINGS_IDS if i not in ids] == []


def test_quicksettings_are_not_repeated_in_the_settings_tab(built: Any) -> None:
    runtime, _, components = built
    assert "setting_sd_vae" in components  # in the top bar
    ids = _sections_config(runtime, ("sd_model_checkpoint", "sd_vae", "CLIP_stop_at_last_layers"))
    assert "setting_sd_vae" not in ids and "setting_CLIP_stop_at_last_layers" not in ids
    assert "setting_samples_save" in ids


def test_apply_settings_saves_only_changes(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path)
    try:
        store = runtime.settings
        values = {**store.snapshot(), "samples_save": False, "jpeg_quality": 90.0}
        values.pop("sd_model_checkpoint")
        message = apply_settings(runtime, values)
        assert message.endswith("2 settings changed: jpeg_quality, samples_save.</div>")
        saved = json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))
        assert saved["samples_save"] is False and saved["jpeg_quality"] == 90
        assert "Nothing changed." in apply_settings(runtime, values)
        bad = apply_settings(runtime, {**values, "samples_save": True, "jpeg_quality": "lots"})
        assert "Settings not saved: setting &#x27;jpeg_quality&#x27; expects int" in bad
        assert store.get("samples_save") is False, "all or nothing"
    finally:
        runtime.shutdown()


def test_frozen_settings_are_refused(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path, "--freeze-settings")
    try:
        assert "frozen" in apply_settings(runtime, {"samples_save": False})
        assert not (tmp_path / "config.json").exists()
    finally:
        runtime.shutdown()


def test_paste_updates_fields_overrides_and_opens_the_variation_accordion() -> None:
    with gr.Blocks():
        steps, subseed, overrides = gr.Slider(), gr.Number(), gr.Dropdown(multiselect=True)
        accordion = gr.Accordion()
    targets = {"steps": steps, "subseed": subseed, "override_settings": overrides,
               "variation_accordion": accordion}
    plan = PastePlan(values={"steps": 7, "subseed": 99, "width": 320}, overrides=["Clip skip: 2"])
    updates = field_updates(plan, targets)
    assert updates[steps] == 7 and updates[subseed] == 99 and len(updates) == 4
    assert updates[overrides]["value"] == ["Clip skip: 2"] and updates[overrides]["visible"] is True
    assert updates[accordion]["open"] is True


def test_generate_reports_a_bad_request_without_queueing(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path)
    try:
        with gr.Blocks():
            panel = OutputPanel(*[gr.HTML() for _ in dataclasses.fields(OutputPanel)])
        outputs = list(make_generate(runtime, panel)("task(txt2img-TEST001)", width=40))
        assert len(outputs) == 1
        assert "width must be between 64 and 2048 pixels, got 40" in outputs[0][panel.html_log]
        assert runtime.queue.get("task(txt2img-TEST001)") is None
    finally:
        runtime.shutdown()


def test_page_assets_are_inline_and_local(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path, "--theme", "dark")
    try:
        (tmp_path / "user.css").write_text("#mine { color: red }", encoding="utf-8")
        head = page_head(runtime)
        assert '"theme": "dark"' in head and "edit-attention.js" in head and "hotkeys.js" in head
        assert "http://" not in head and "https://" not in head.replace("https://goo", "")
        assert "#mine { color: red }" in page_css(runtime) and ".token-counter" in page_css(runtime)
    finally:
        runtime.shutdown()


def test_mounted_ui_requires_login_with_gradio_auth(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path, "--gradio-auth", "alice:s3cret")
    try:
        client = TestClient(mount_ui(FastAPI(), runtime))
        assert client.get("/config").status_code == 401
        assert client.post("/login", data={"username": "alice", "password": "nope"}).status_code == 400
        assert client.post("/login", data={"username": "alice", "password": "s3cret"}).status_code == 200
        assert client.get("/config").status_code == 200
    finally:
        runtime.shutdown()


def test_ui_build_lists_warnings_once(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("[1, 2", encoding="utf-8")
    runtime = _runtime(tmp_path)
    try:
        from modules.ui.ui_config import UiConfig

        warnings = UiBuild(runtime, UiConfig(tmp_path / "ui-config.json")).warnings()
        assert len(warnings) == 1 and warnings[0].startswith("config.json was unreadable")
    finally:
        runtime.shutdown()


def test_checkpoint_switch_failure_keeps_the_previous_one_and_says_why() -> None:
    from types import SimpleNamespace

    from modules.ui.quicksettings import switch_checkpoint

    def refuse(title: str) -> None:
        raise LookupError(f"checkpoint {title!r} not found")

    loaded = SimpleNamespace(title="tiny.safetensors [8e56425d74]")
    runtime = SimpleNamespace(select_checkpoint=refuse, checkpoint_for=lambda name: loaded)
    update, message = switch_checkpoint(runtime, "gone.safetensors")
    assert update["value"] == "tiny.safetensors [8e56425d74]"
    assert "Could not load gone.safetensors: checkpoint &#x27;gone.safetensors&#x27; not found" in message
    assert "Still using tiny.safetensors [8e56425d74]" in message


def test_skip_and_interrupt_act_on_this_tabs_job_only(tmp_path: Path) -> None:
    import threading

    from modules.ui.txt2img import interrupt_job, skip_image

    runtime = _runtime(tmp_path)
    try:
        started, release = threading.Event(), threading.Event()
        mine = runtime.queue.submit(lambda c: (started.set(), release.wait(10)), task_id="task(mine)")
        waiting = runtime.queue.submit(lambda c: "later", task_id="task(other)")
        started.wait(10)
        skip_image(runtime, "task(other)")  # not running: nothing to skip
        skip_image(runtime, "task(mine)")
        assert mine.control.skipped and not waiting.control.skipped
        interrupt_job(runtime, "task(other)")  # waiting: leaves the queue, the running job goes on
        assert waiting.status == "cancelled" and not mine.control.interrupted
        interrupt_job(runtime, None)
        release.set()
        mine.wait(10)
    finally:
        runtime.shutdown()
