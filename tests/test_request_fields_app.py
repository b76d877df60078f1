"""The field table of a running app: the page's widgets read their labels and slider bounds from
it, and a feature that adds one row at registration gets its value in the engine's request from
the API (sent, defaulted or pasted from an infotext) and from a UI paste, checked by the row's
rule, and written into the infotext by the feature: one row plus the code that uses it."""

# No `from __future__ import annotations`: FastAPI reads real annotations of the app's routes.
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("gradio")

from fastapi.testclient import TestClient  # noqa: E402

from modules.cmd_args import parse_args  # noqa: E402
from modules.engine.features import Contribution  # noqa: E402
from modules.engine.field_rules import Range  # noqa: E402
from modules.engine.request import REQUEST_ATTRS, GenerationRequest  # noqa: E402
from modules.engine.request_fields import BOTH, REQUEST_FIELDS, RequestField  # noqa: E402
from modules.engine.validation import InvalidRequestError  # noqa: E402
from modules.runtime import build_runtime  # noqa: E402
from modules.server import create_app  # noqa: E402
from modules.ui.blocks import _build_page  # noqa: E402
from modules.ui.field_widgets import field_widget_args, form_name  # noqa: E402
from modules.ui.paste_actions import plan_paste  # noqa: E402
from modules.ui.table_fields import app_fields, feature_paste_names, split_table_values  # noqa: E402
from modules.ui.txt2img import submit_form  # noqa: E402
from modules.ui.txt2img_form import Txt2ImgForm  # noqa: E402

# What A1111's page shows for the widgets of table fields (element id -> label); the table is
# the source now, so a changed row label must show up here as a failure.
A1111_LABELS = {
    "txt2img_prompt": "Prompt", "txt2img_neg_prompt": "Negative prompt", "txt2img_styles": "Styles",
    "txt2img_sampling": "Sampling method", "txt2img_scheduler": "Schedule type", "txt2img_steps": "Sampling steps",
    "txt2img_enable_hr": "Hires. fix", "txt2img_hr_upscaler": "Upscaler", "txt2img_hires_steps": "Hires steps",
    "txt2img_denoising_strength": "Denoising strength", "txt2img_hr_scale": "Upscale by",
    "txt2img_hr_resize_x": "Resize width to", "txt2img_hr_resize_y": "Resize height to",
    "hr_checkpoint": "Hires checkpoint", "hr_sampler": "Hires sampling method", "hr_scheduler": "Hires schedule type",
    "hires_prompt": "Hires prompt", "hires_neg_prompt": "Hires negative prompt",
    "script_txt2img_refiner_checkpoint": "Checkpoint", "script_txt2img_refiner_switch_at": "Switch at",
    "txt2img_width": "Width", "txt2img_height": "Height", "txt2img_batch_count": "Batch count",
    "txt2img_batch_size": "Batch size", "txt2img_cfg_scale": "CFG Scale", "txt2img_seed": "Seed",
    "txt2img_subseed": "Variation seed", "txt2img_subseed_strength": "Variation strength",
    "txt2img_seed_resize_from_w": "Resize seed from width", "txt2img_seed_resize_from_h": "Resize seed from height",
    "txt2img_tiling": "Tiling", "script_list": "Script",
    "img2img_resize_mode": "Resize mode", "img2img_mask_blur": "Mask blur", "img2img_mask_mode": "Mask mode",
    "img2img_inpainting_fill": "Masked content", "img2img_inpaint_full_res": "Inpaint area",
    "img2img_inpaint_full_res_padding": "Only masked padding, pixels", "img2img_steps": "Sampling steps",
    "img2img_denoising_strength": "Denoising strength", "img2img_script_list": "Script",
}
# Table fields each tab must show (by request field name).
SHOWN = {
    "txt2img": {"prompt", "negative_prompt", "styles", "sampler_name", "scheduler", "steps", "width", "height",
                "n_iter", "batch_size", "cfg_scale", "seed", "subseed", "subseed_strength", "seed_resize_from_w",
                "seed_resize_from_h", "tiling", "script_name", "enable_hr", "hr_upscaler", "hr_second_pass_steps",
                "denoising_strength", "hr_scale", "hr_resize_x", "hr_resize_y", "hr_checkpoint_name",
                "hr_sampler_name", "hr_scheduler", "hr_prompt", "hr_negative_prompt", "refiner_checkpoint",
                "refiner_switch_at"},
    "img2img": {"prompt", "negative_prompt", "styles", "sampler_name", "scheduler", "steps", "width", "height",
                "n_iter", "batch_size", "cfg_scale", "denoising_strength", "seed", "subseed", "subseed_strength",
                "seed_resize_from_w", "seed_resize_from_h", "resize_mode", "mask_blur", "inpainting_mask_invert",
                "inpainting_fill", "inpaint_full_res", "inpaint_full_res_padding", "refiner_checkpoint",
                "refiner_switch_at"},  # its Script list is checked by element id below
}


def _flags(data: Path, *more: str) -> Any:
    return parse_args(["--data-dir", str(data), "--no-demo-model", "--no-hashing", "--cpu", "--skip-install", *more],
                      environ={})


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Any:
    runtime = build_runtime(_flags(tmp_path_factory.mktemp("field-page")))
    demo, ui = _build_page(runtime, None, None, None)
    yield demo, ui
    runtime.shutdown()


# (a) the page's widgets of table fields

@pytest.mark.parametrize("tab", ["txt2img", "img2img"])
def test_every_table_field_widget_has_the_tables_label_and_slider(page: Any, tab: str) -> None:
    _, ui = page
    targets = ui.paste_targets[tab]
    checked: set[str] = set()
    for row in REQUEST_FIELDS:
        if row.label is None:
            continue
        # by form field name (paste targets), else by its ui-config.json key (`img2img/Mask blur/value`)
        widget = targets.get(form_name(row)) or ui.tracked_defaults.get(f"{tab}/{row.label}/value")
        if widget is None:
            continue
        checked.add(row.attr)
        assert widget.label == row.label, row.attr
        if row.slider is not None:  # a fresh ui-config.json: the table's start value and bounds
            assert (widget.value, widget.minimum, widget.maximum, widget.step) == \
                   tuple(row.slider.args(tab).values()), row.attr
        if "choices" in field_widget_args(row.attr, tab):
            assert [c[0] for c in widget.choices] == field_widget_args(row.attr, tab)["choices"], row.attr
    assert SHOWN[tab] <= checked, SHOWN[tab] - checked


def test_the_page_shows_a1111s_labels(page: Any) -> None:
    demo, _ = page
    shown = {c["props"]["elem_id"]: c["props"].get("label") for c in demo.config["components"]
             if c["props"].get("elem_id") in A1111_LABELS}
    assert shown == A1111_LABELS


def test_every_builtin_row_is_a_request_attribute_or_read_by_the_api_mapping() -> None:
    """A built-in field the engine reads is a typed `GenerationRequest` attribute; `extra_fields`
    is for features' rows, so a new built-in row without its attribute fails here, by name."""
    assert [r.attr for r in REQUEST_FIELDS if r.attr not in REQUEST_ATTRS and not r.api_only] == []


# (b) a feature's own row, added at registration

BOOST = RequestField("detail_boost", "Detail boost", "float", "Detail boost", default=0.25, ui_tabs=BOTH,
                     rules=(Range(low=0, high=1, message="{name} must be between 0 and 1, got {value}"),))
TINY = {"prompt": "a cat", "steps": 2, "width": 64, "height": 64, "sampler_name": "Euler", "seed": 3}


class DetailBoost:
    """Reads its field from the request and writes it into the infotext."""

    name = "Detail boost"

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def contribute(self, setup: Any, pass_: Any) -> Contribution | None:
        value = setup.req.value("detail_boost")
        self.seen.append(value)
        return Contribution(infotext={"Detail boost": value}) if value else None


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, tiny_sd1: Path) -> Any:
    runtime = build_runtime(_flags(tmp_path_factory.mktemp("field-app"), "--nowebui", "--ckpt", str(tiny_sd1)))
    runtime.request_fields.add(BOOST)  # as a feature's register(runtime) does
    feature = DetailBoost()
    runtime.features.register(feature)
    with TestClient(create_app(runtime)) as client:
        yield runtime, client, feature
    runtime.shutdown()


def _infotext(response: Any) -> str:
    assert response.status_code == 200, response.text
    return json.loads(response.json()["info"])["infotexts"][0]


def test_a_feature_row_is_a_field_of_the_apps_api_bodies(app: Any) -> None:
    _, client, _ = app
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for body in ("Txt2ImgBody", "Img2ImgBody"):
        assert schemas[body]["properties"]["detail_boost"]["default"] == 0.25
    assert "detail_boost" not in app_fields(None) and BOOST not in REQUEST_FIELDS  # the built-in table is untouched


def test_a_sent_value_reaches_the_feature_and_the_infotext(app: Any) -> None:
    _, client, feature = app
    infotext = _infotext(client.post("/sdapi/v1/txt2img", json={**TINY, "detail_boost": 0.7}))
    assert feature.seen[-1] == 0.7 and "Detail boost: 0.7" in infotext
    _infotext(client.post("/sdapi/v1/txt2img", json=TINY))
    assert feature.seen[-1] == 0.25  # the row's API default
    jobs = client.post("/jobs/v1/txt2img", json={**TINY, "detail_boost": 0.6})
    assert jobs.status_code == 202, jobs.text


def test_a_pasted_infotext_fills_the_feature_field_in_the_api(app: Any) -> None:
    _, client, feature = app
    text = "a cat\nSteps: 2, Sampler: Euler, Seed: 3, Size: 64x64, Detail boost: 0.4"
    infotext = _infotext(client.post("/sdapi/v1/txt2img", json={"infotext": text}))
    assert feature.seen[-1] == 0.4 and "Detail boost: 0.4" in infotext


def test_the_rows_rule_answers_a_422_naming_the_field(app: Any) -> None:
    _, client, feature = app
    count = len(feature.seen)
    response = client.post("/sdapi/v1/txt2img", json={**TINY, "detail_boost": 3})
    assert response.status_code == 422
    assert response.json()["detail"] == "detail_boost must be between 0 and 1, got 3.0"
    assert len(feature.seen) == count  # refused before the queue


def test_a_ui_paste_reaches_the_feature_and_the_infotext(app: Any) -> None:
    runtime, _, feature = app
    plan = plan_paste(runtime, "a cat\nSteps: 2, Sampler: Euler, Seed: 3, Size: 64x64, Detail boost: 0.35")
    assert plan.values["detail_boost"] == 0.35
    assert feature_paste_names(runtime, "img2img") == {"detail_boost"}  # img2img's paste targets take it too
    widgets = {"prompt": "a cat", "steps": 2, "width": 64, "height": 64, "sampler_name": "Euler", "seed": 3,
               "detail_boost": plan.values["detail_boost"]}  # the feature's widget, filled by the paste
    form_values, table_values = split_table_values(widgets, app_fields(runtime), Txt2ImgForm.field_names())
    assert table_values == {"detail_boost": 0.35}
    job = submit_form(runtime, Txt2ImgForm(**form_values), "task-boost", table_values=table_values)
    result = job.wait(120)
    assert feature.seen[-1] == 0.35 and "Detail boost: 0.35" in result.infotexts[0]
    with pytest.raises(InvalidRequestError, match="detail_boost must be between 0 and 1, got 1.5"):
        submit_form(runtime, Txt2ImgForm(**form_values), "task-boost-2", table_values={"detail_boost": 1.5})


def test_rows_cannot_be_added_once_the_app_is_built(app: Any) -> None:
    runtime, _, _ = app
    with pytest.raises(RuntimeError, match="added after the API was built"):
        runtime.request_fields.add(RequestField("late_field", None, "int"))


def test_request_value_reads_attributes_and_extra_fields() -> None:
    req = GenerationRequest(steps=9).with_values({"detail_boost": 0.5, "cfg_scale": 3.0})
    assert (req.value("steps"), req.value("cfg_scale"), req.value("detail_boost")) == (9, 3.0, 0.5)
    assert req.value("unknown", "fallback") == "fallback" and "cfg_scale" not in req.extra_fields


def test_an_extension_adds_a_request_field_through_the_extension_api() -> None:
    from types import SimpleNamespace

    from modules.engine.request_fields import FieldTable
    from modules.engine.validation import check_fields
    from modules.extensions.facades.extension_api import ExtensionApiError, build
    from modules.ui.infotext_paste import paste_fields, paste_values

    table = FieldTable()
    api = build(SimpleNamespace(runtime=SimpleNamespace(request_fields=table)), "my-ext")
    api.add_request_field("my_strength", "float", default=0.5, infotext="My strength", minimum=0, maximum=2)
    row = table.rows[-1]
    assert (row.attr, row.default, row.infotext) == ("my_strength", 0.5, "My strength")
    with pytest.raises(InvalidRequestError, match="my_strength must be between 0 and 2, got 3"):
        check_fields({"my_strength": 3}.get, "txt2img", fields=table.rows)
    assert paste_values({"My strength": "1.5"}, fields=paste_fields("img2img", table.rows)).values == \
           {"my_strength": 1.5}
    with pytest.raises(ExtensionApiError, match="my-ext.*'steps' is already in the table"):
        api.add_request_field("steps", "int")
    table.freeze("the API")
    with pytest.raises(ExtensionApiError, match="added after the API was built"):
        api.add_request_field("late", "int")
