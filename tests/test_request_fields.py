"""The one request-field table: the API models, both paste directions and the value checks are
built from it, and a new row reaches all of them without another file changing."""

# No `from __future__ import annotations`: FastAPI must see the generated body classes of the
# test routes as real annotations, not as names of local variables.
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from modules.api.errors import register_error_handlers
from modules.api.infotext_fill import request_values
from modules.api.models import Img2ImgBody, Txt2ImgBody, build_bodies
from modules.api.request_mapping import check_table_values
from modules.engine.field_rules import Range
from modules.engine.request import GenerationRequest
from modules.engine.request_fields import (
    BOTH,
    REQUEST_FIELDS,
    RequestField,
    api_paste_fields,
    extend_fields,
    ui_paste_fields,
)
from modules.engine.validation import InvalidRequestError, check_fields, validate_request
from modules.infotext import parse_generation_parameters
from modules.ui.infotext_paste import paste_fields, paste_values

BODIES = {"txt2img": Txt2ImgBody, "img2img": Img2ImgBody}
SNAPSHOT = Path(__file__).parent / "fixtures" / "api_body_schemas.json"
# An infotext value per kind, and for rows whose converter reads words
RAW = {"str": "word", "int": "3", "float": "0.5", "bool": "True", "list": ["Warm"]}
RAW_BY_KEY = {"Masked content": "latent noise", "Inpaint area": "Only masked", "Mask mode": "Inpaint not masked"}


def raw_value(row: RequestField) -> Any:
    return RAW_BY_KEY.get(str(row.infotext), RAW[row.kind])


def body_schemas(txt2img: type, img2img: type) -> dict[str, Any]:
    """The request-body schemas exactly as FastAPI writes them into /openapi.json."""
    app = FastAPI()

    @app.post("/t")
    def t(body: txt2img) -> dict:  # type: ignore[valid-type]
        return {}

    @app.post("/i")
    def i(body: img2img) -> dict:  # type: ignore[valid-type]
        return {}

    schemas = app.openapi()["components"]["schemas"]
    return {"Txt2ImgBody": schemas["Txt2ImgBody"], "Img2ImgBody": schemas["Img2ImgBody"]}


# (a) every table field reaches the API models with its default, and both paste directions

@pytest.mark.parametrize("row", REQUEST_FIELDS, ids=lambda r: r.attr)
def test_every_row_is_a_field_of_its_api_bodies_with_its_default(row: RequestField) -> None:
    for mode, body in BODIES.items():
        if mode not in row.bodies:
            assert row.attr not in body.model_fields
            continue
        info = body.model_fields[row.attr]
        assert info.default == row.api_default(mode)
        assert body().model_dump()[row.attr] == row.api_default(mode)


def test_img2img_keeps_its_own_denoising_default() -> None:
    assert Txt2ImgBody().denoising_strength is None and Img2ImgBody().denoising_strength == 0.75
    assert Img2ImgBody(denoising_strength=None).denoising_strength == 0.75  # null means the default


@pytest.mark.parametrize("row", [r for r in REQUEST_FIELDS if r.infotext], ids=lambda r: r.attr)
def test_every_infotext_row_reaches_both_paste_directions(row: RequestField) -> None:
    params = {row.infotext: raw_value(row)}
    expected = row.to_value(raw_value(row))
    for mode in row.api_modes:
        values = request_values(params, mode, set())
        key = "mask_blur_x" if row.attr == "mask_blur" else row.attr  # A1111's mask_blur sets both sides
        assert values[key] == expected, mode
        assert request_values(params, mode, {row.attr}).get(row.attr) is None  # a sent field wins
    for tab in row.ui_tabs:
        assert paste_values(params, fields=paste_fields(tab)).values[row.attr] == expected, tab
    assert row.api_modes or row.ui_tabs, "a row with an infotext key is pasted somewhere"


def test_every_api_paste_row_is_a_field_of_that_modes_api_model() -> None:
    missing = [(f.attr, mode) for mode in BODIES for f in api_paste_fields(mode)
               if f.attr not in BODIES[mode].model_fields]
    assert missing == []


def test_ui_rows_are_request_attributes() -> None:
    attrs = {f.name for f in dataclasses.fields(GenerationRequest)}
    pasted = {f for tab in ("txt2img", "img2img") for f in ui_paste_fields(tab)}
    assert [f.attr for f in pasted if f.attr not in attrs] == []


def test_infotext_keys_are_unique() -> None:
    keys = [f.infotext for f in REQUEST_FIELDS if f.infotext]
    assert len(keys) == len(set(keys))


def test_checks_come_from_the_table_with_their_messages() -> None:
    """The rules declared in the table are the ones validate_request runs (UI and API alike)."""
    base = GenerationRequest(width=64, height=64, steps=4)
    cases = [(dict(width=40), "width must be between 64 and 2048 pixels, got 40"),
             (dict(height=100), r"height must be a multiple of 8, got 100 \(try 96\)"),
             (dict(steps=0), "steps must be between 1 and 1000, got 0"),
             (dict(seed=-2), "seed must be -1 \\(random\\) or from 0 to"),
             (dict(cfg_scale=float("nan")), "cfg_scale must be a finite number"),
             (dict(enable_hr=True, hr_scale=9.0), "hr_scale must be between 1 and 8, got 9"),
             (dict(mode="img2img", init_images=(object(),), inpainting_fill=7),
              "inpainting_fill must be one of 0 fill, 1 original, 2 latent noise, 3 latent nothing; got 7")]
    for change, message in cases:
        with pytest.raises(InvalidRequestError, match=message):
            validate_request(base.with_changes(**change))
    validate_request(base.with_changes(hr_scale=9.0))  # hires rules only while hires fix is on


def test_every_api_default_passes_its_own_rules() -> None:
    for mode, body in BODIES.items():
        defaults = body().model_dump()
        check_fields(defaults.get, mode)  # raises with the field's message if the table contradicts itself


def test_extending_the_table_refuses_ambiguous_rows() -> None:
    with pytest.raises(ValueError, match="'steps' is already in the table"):
        extend_fields(REQUEST_FIELDS, RequestField("steps", None, "int"))
    with pytest.raises(ValueError, match="infotext key 'Seed' is already used"):
        extend_fields(REQUEST_FIELDS, RequestField("my_seed", "Seed", "int"))
    with pytest.raises(ValueError, match="kind must be one of"):
        extend_fields(REQUEST_FIELDS, RequestField("my_thing", None, "tensor"))


# (b) a throwaway row added to a copy of the table reaches everything

NEW_ROW = RequestField("clip_guidance", "Clip guidance", "float", "CLIP guidance", default=0.25,
                       ui_tabs=BOTH, rules=(Range(low=0, high=1, in_schema=True,
                                                  message="{name} must be between 0 and 1, got {value}"),))
LOOSE_ROW = RequestField("guidance_rescale", "Guidance rescale", "float", "Guidance rescale", default=0.0,
                         bodies=frozenset({"txt2img"}), api_modes=frozenset({"txt2img"}),
                         rules=(Range(low=0, high=1, message="{name} must be between 0 and 1, got {value}"),))
TABLE = extend_fields(REQUEST_FIELDS, NEW_ROW, LOOSE_ROW)


def test_a_new_row_reaches_the_api_model_schema_and_defaults() -> None:
    _, txt2img, img2img = build_bodies(TABLE)
    assert txt2img().clip_guidance == 0.25 and img2img().clip_guidance == 0.25
    assert txt2img().guidance_rescale == 0.0 and "guidance_rescale" not in img2img.model_fields
    schemas = body_schemas(txt2img, img2img)
    assert schemas["Txt2ImgBody"]["properties"]["clip_guidance"] == {
        "type": "number", "maximum": 1.0, "minimum": 0.0, "title": "Clip Guidance", "default": 0.25}
    assert "guidance_rescale" not in schemas["Img2ImgBody"]["properties"]
    assert "clip_guidance" not in Txt2ImgBody.model_fields  # the built-in models are untouched


def test_a_bad_value_of_a_new_row_is_a_422_naming_the_field() -> None:
    _, txt2img, _ = build_bodies(TABLE)
    app = FastAPI()
    register_error_handlers(app)

    @app.post("/sdapi/v1/txt2img")
    def route(body: txt2img) -> dict:  # type: ignore[valid-type]
        check_table_values(body.model_dump(), "txt2img", TABLE)  # as request_mapping.prepare does
        return {"ok": True}

    with TestClient(app) as client:
        schema_bound = client.post("/sdapi/v1/txt2img", json={"clip_guidance": 3})
        rule_bound = client.post("/sdapi/v1/txt2img", json={"guidance_rescale": 2.5})
        fine = client.post("/sdapi/v1/txt2img", json={"clip_guidance": 0.5, "guidance_rescale": 0.5})
    assert schema_bound.status_code == 422 and "clip_guidance" in schema_bound.json()["detail"]
    assert rule_bound.status_code == 422
    assert rule_bound.json()["detail"] == "guidance_rescale must be between 0 and 1, got 2.5"
    assert fine.status_code == 200


def test_a_new_row_is_checked_by_the_engine_rules_too() -> None:
    values = {"clip_guidance": 1.5}
    with pytest.raises(InvalidRequestError, match="clip_guidance must be between 0 and 1, got 1.5"):
        check_fields(values.get, "img2img", fields=TABLE)
    check_fields(values.get, "img2img")  # the built-in table does not know the field


def test_a_new_row_reaches_both_paste_directions() -> None:
    params = parse_generation_parameters("a cat\nSteps: 5, Clip guidance: 0.7, Guidance rescale: 0.3")
    txt2img = request_values(params, "txt2img", set(), TABLE)
    assert (txt2img["clip_guidance"], txt2img["guidance_rescale"], txt2img["steps"]) == (0.7, 0.3, 5)
    assert request_values(params, "img2img", set(), TABLE)["clip_guidance"] == 0.7
    assert "guidance_rescale" not in request_values(params, "img2img", set(), TABLE)
    assert "clip_guidance" not in request_values(params, "txt2img", set())  # built-in table: unknown key
    for tab in ("txt2img", "img2img"):
        assert paste_values(params, fields=paste_fields(tab, TABLE)).values["clip_guidance"] == 0.7


# (c) the request bodies of /openapi.json are what they were before the table built them

def test_openapi_body_schemas_match_the_snapshot_for_every_existing_field() -> None:
    """tests/fixtures/api_body_schemas.json was taken from the hand-written models; every field
    there keeps its exact schema (type, nullability, default, bounds, description). New fields
    may be added; property order is not compared (JSON objects are unordered)."""
    before = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    now = body_schemas(Txt2ImgBody, Img2ImgBody)
    for name, schema in before.items():
        props = now[name]["properties"]
        assert {k: v for k, v in now[name].items() if k != "properties"} == \
               {k: v for k, v in schema.items() if k != "properties"}, name
        changed = {field: (spec, props.get(field)) for field, spec in schema["properties"].items()
                   if props.get(field) != spec}
        assert changed == {}, name
