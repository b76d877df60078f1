"""The ControlNet widgets' values: split out of a tab's form, into the request, and back from a paste."""

from __future__ import annotations

from PIL import Image

from modules.controlnet.infotext import unit_infotext
from modules.controlnet.unit import parse_unit, parse_units
from modules.infotext import build_infotext, parse_generation_parameters
from modules.ui.controlnet_form import field_name, paste_values, split_unit_values, with_units


def test_split_values_and_request_units():
    image = Image.new("RGB", (8, 8), "white")
    values = {"prompt": "a cat", "steps": 20, field_name(0, "enabled"): True, field_name(0, "image"): image,
              field_name(0, "module"): "canny", field_name(0, "processor_res"): 256.0,
              field_name(1, "enabled"): False, field_name(1, "weight"): 0.5}
    rest, units = split_unit_values(values)
    assert rest == {"prompt": "a cat", "steps": 20}
    assert units[0]["processor_res"] == 256 and units[0]["image"] is image and units[1]["weight"] == 0.5
    scripts = with_units({}, units)
    parsed = parse_units(scripts["controlnet"])
    assert parsed[0].enabled and parsed[0].module == "canny" and parsed[0].image is image
    assert with_units({}, [{"enabled": False}]) == {}  # no enabled unit: the request stays as it was


def test_paste_restores_units_and_disables_the_others():
    unit = parse_unit({"enabled": True, "module": "canny", "model": "control_x [11111111]", "weight": 0.7,
                       "guidance_end": 0.5})
    entry = unit_infotext(unit, unit.model, 512, 100, 200)
    text = build_infotext("p", "", {"Steps": 4, "Sampler": "Euler", "ControlNet 1": entry})
    out = paste_values(parse_generation_parameters(text), 3, resolve_model=lambda m: "control_x [22222222]")
    assert out[field_name(1, "enabled")] is True and out[field_name(1, "module")] == "canny"
    assert out[field_name(1, "model")] == "control_x [22222222]" and out[field_name(1, "weight")] == 0.7
    assert out[field_name(1, "guidance_end")] == 0.5 and out[field_name(1, "threshold_a")] == 100
    assert out[field_name(0, "enabled")] is False and out[field_name(2, "enabled")] is False
    assert paste_values(parse_generation_parameters("p\nSteps: 4"), 3) == {}


def test_ui_units_are_checked_before_queueing(tmp_path):
    import pytest

    from modules.controlnet.service import ControlNetService
    from modules.engine.request import GenerationRequest
    from modules.engine.validation import InvalidRequestError
    from modules.ui.controlnet_form import request_with_units

    service = ControlNetService([tmp_path], tmp_path / "annotator")
    req = GenerationRequest(prompt="x")
    assert request_with_units(service, req, [{"enabled": False, "model": "missing"}]) is req
    with pytest.raises(InvalidRequestError, match="unit 0 'model'.*missing"):
        request_with_units(service, req, [{"enabled": True, "model": "missing", "image": Image.new("RGB", (8, 8))}])
    with pytest.raises(InvalidRequestError, match="unit 1 'image' is missing"):
        request_with_units(service, req, [{"enabled": False}, {"enabled": True, "model": "None"}])
    img2img = GenerationRequest(mode="img2img", init_images=[Image.new("RGB", (8, 8))])
    done = request_with_units(service, img2img, [{"enabled": True, "module": "canny"}])
    assert done.alwayson_scripts["controlnet"]["args"][0].module == "canny"


def test_the_unit_mask_widget_is_the_region_mask_or_the_inpaint_mask():
    mask = Image.new("L", (8, 8), 255)
    values = {field_name(0, "enabled"): True, field_name(0, "image"): Image.new("RGB", (8, 8)),
              field_name(0, "module"): "canny", field_name(0, "mask"): mask,
              field_name(1, "enabled"): True, field_name(1, "image"): Image.new("RGB", (8, 8)),
              field_name(1, "module"): "inpaint", field_name(1, "mask"): mask}
    _, units = split_unit_values(values)
    canny, inpaint = parse_units(with_units({}, units)["controlnet"])
    assert canny.effective_region_mask is mask and canny.mask is None
    assert inpaint.mask is mask and inpaint.effective_region_mask is None
