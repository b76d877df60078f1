"""Unit parsing with the extension's fields, aliases and value forms; infotext round trips."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from modules.controlnet.infotext import parse_unit_text, unit_infotext, units_from_infotext
from modules.controlnet.unit import ControlMode, HiresOption, ResizeMode, UnitError, parse_unit, parse_units
from modules.infotext import build_infotext, parse_generation_parameters


def _b64(colour=(255, 0, 0), size=(16, 8)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_defaults_match_the_extension():
    unit = parse_unit({})
    assert (unit.enabled, unit.module, unit.model, unit.weight) == (False, "none", "None", 1.0)
    assert unit.resize_mode is ResizeMode.CROP_AND_RESIZE and unit.control_mode is ControlMode.BALANCED
    assert (unit.processor_res, unit.threshold_a, unit.threshold_b) == (-1, -1.0, -1.0)
    assert (unit.guidance_start, unit.guidance_end, unit.pixel_perfect) == (0.0, 1.0, False)
    assert unit.hr_option is HiresOption.BOTH and unit.image is None


def test_legacy_aliases_and_value_forms():
    unit = parse_unit({"input_image": _b64(), "mask_image": _b64((255, 255, 255)), "lowvram": True,
                       "guidance": 0.6, "resize_mode": "Inner Fit (Scale to Fit)", "control_mode": 2,
                       "hr_option": "low res only", "extra_field": 1})
    assert unit.image.size == (16, 8) and unit.mask is not None and unit.low_vram
    assert unit.guidance_end == 0.6 and unit.resize_mode is ResizeMode.CROP_AND_RESIZE
    assert unit.control_mode is ControlMode.CONTROL and unit.hr_option is HiresOption.LOW_RES_ONLY
    assert parse_unit({"resize_mode": 0}).resize_mode is ResizeMode.JUST_RESIZE
    assert parse_unit({"resize_mode": "Envelope (Outer Fit)"}).resize_mode is ResizeMode.RESIZE_AND_FILL
    assert parse_unit({"control_mode": "My prompt is more important"}).control_mode is ControlMode.PROMPT


@pytest.mark.parametrize("image", [
    lambda: {"image": _b64(), "mask": _b64((0, 0, 0))},
    lambda: [_b64(), _b64((0, 0, 0))],
    lambda: [{"image": _b64(), "mask": _b64((0, 0, 0))}],
])
def test_image_forms(image):
    unit = parse_unit({"image": image()})
    assert unit.image.getpixel((0, 0)) == (255, 0, 0) and unit.mask.getpixel((0, 0)) == (0, 0, 0)


@pytest.mark.parametrize(("fields", "field"), [
    ({"weight": 2.5}, "weight"), ({"weight": "heavy"}, "weight"), ({"image": "not base64!"}, "image"),
    ({"image": base64.b64encode(b"plain text").decode()}, "image"), ({"resize_mode": "Squash"}, "resize_mode"),
    ({"control_mode": 7}, "control_mode"), ({"guidance_start": 0.8, "guidance_end": 0.2}, "guidance_start"),
    ({"module": "no_such_thing"}, "module"), ({"enabled": "maybe"}, "enabled"),
])
def test_bad_fields_name_the_field(fields, field):
    with pytest.raises(UnitError) as err:
        parse_units({"args": [{}, fields]}, known_modules=lambda m: m if m in ("none", "canny") else None)
    assert err.value.field == field and "unit 1" in str(err.value) and field in str(err.value)


def test_infotext_round_trip_through_the_whole_parameters_line():
    unit = parse_unit({"enabled": True, "module": "canny", "model": "control_canny [0123abcd]", "weight": 0.8,
                       "guidance_start": 0.1, "guidance_end": 0.9, "control_mode": 1, "pixel_perfect": True,
                       "resize_mode": "Resize and Fill"})
    text = unit_infotext(unit, "control_canny [0123abcd]", 512, 100.0, 200.0)
    assert text == ("Module: canny, Model: control_canny [0123abcd], Weight: 0.8, Resize Mode: Resize and Fill, "
                    "Processor Res: 512, Threshold A: 100.0, Threshold B: 200.0, Guidance Start: 0.1, "
                    "Guidance End: 0.9, Pixel Perfect: True, Control Mode: My prompt is more important")
    line = build_infotext("a cat", "", {"Steps": 20, "ControlNet 0": text, "ControlNet 1": text})
    assert 'ControlNet 0: "Module: canny, Model:' in line
    units = units_from_infotext(parse_generation_parameters(line))
    assert len(units) == 2
    back = parse_unit(units[0])
    assert back.with_changes(image=None) == unit.with_changes(processor_res=512, threshold_a=100.0,
                                                              threshold_b=200.0)


def test_model_names_with_commas_survive():
    parsed = parse_unit_text("Module: none, Model: a, b [12345678], Weight: 1.0, Control Mode: Balanced")
    assert parsed["model"] == "a, b [12345678]" and parsed["weight"] == 1.0
