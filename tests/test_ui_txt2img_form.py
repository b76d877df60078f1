"""txt2img widgets -> GenerationRequest, by field name, with messages that name the widget."""

from __future__ import annotations

import pytest

from modules.engine.validation import InvalidRequestError
from modules.settings.schema import default_schema, infotext_to_option_keys
from modules.settings.store import SettingsStore
from modules.ui.txt2img_form import Txt2ImgForm, as_int, parse_override_entries, to_request

OPTION_KEYS = infotext_to_option_keys(default_schema())


def test_every_field_reaches_the_request_by_name() -> None:
    form = Txt2ImgForm(prompt="a cat", negative_prompt="blurry", styles=["Warm"], sampler_name="Euler a",
                       scheduler="Karras", steps=12.0, width=320.0, height=192, batch_count=3, batch_size=2,
                       cfg_scale=6.5, seed=1234.0, subseed="99", subseed_strength=0.25,
                       seed_resize_from_w=256, seed_resize_from_h=128, tiling=True, script_name="None")
    req = to_request(form, task_id="task(txt2img-ABCDEFG)")
    assert (req.mode, req.prompt, req.negative_prompt) == ("txt2img", "a cat", "blurry")
    assert req.styles == ("Warm",)
    assert (req.sampler_name, req.scheduler, req.steps, req.cfg_scale) == ("Euler a", "Karras", 12, 6.5)
    assert (req.width, req.height, req.n_iter, req.batch_size) == (320, 192, 3, 2)
    assert (req.seed, req.subseed, req.subseed_strength) == (1234, 99, 0.25)
    assert (req.seed_resize_from_w, req.seed_resize_from_h, req.tiling) == (256, 128, True)
    assert req.script_name is None and req.task_id == "task(txt2img-ABCDEFG)"
    assert all(isinstance(v, int) for v in (req.steps, req.width, req.seed, req.n_iter))


def test_defaults_match_a1111_ui_defaults() -> None:
    req = to_request(Txt2ImgForm())
    assert (req.sampler_name, req.scheduler, req.steps, req.cfg_scale) == ("DPM++ 2M", "Automatic", 20, 7.0)
    assert (req.width, req.height, req.seed, req.n_iter, req.batch_size) == (512, 512, -1, 1, 1)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("steps", None, "Sampling steps is empty; enter a whole number"),
    ("seed", "abc", "Seed must be a whole number, got 'abc'"),
    ("width", 512.5, "Width must be a whole number, got 512.5"),
    ("batch_count", float("nan"), "Batch count must be a whole number"),
])
def test_bad_widget_values_name_the_widget(field: str, value: object, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        to_request(Txt2ImgForm(**{field: value}))


def test_cfg_must_be_a_number() -> None:
    with pytest.raises(InvalidRequestError, match="CFG Scale must be a number, got 'x'"):
        to_request(Txt2ImgForm(cfg_scale="x"))


def test_as_int_accepts_integral_floats_and_strings() -> None:
    assert as_int("steps", 20.0) == 20 and as_int("seed", " 7 ") == 7 and as_int("seed", -1) == -1


def test_override_entries_become_typed_override_settings(tmp_path) -> None:
    store = SettingsStore(tmp_path / "config.json")
    form = Txt2ImgForm(override_settings=["Clip skip: 2", "ENSD: 31337", "RNG: CPU"])
    req = to_request(form, option_keys=OPTION_KEYS, coerce_settings=store.validate)
    assert dict(req.override_settings) == {"CLIP_stop_at_last_layers": 2, "eta_noise_seed_delta": 31337,
                                           "randn_source": "CPU"}
    assert not (tmp_path / "config.json").exists(), "overrides are per request, never saved"


def test_unknown_or_invalid_override_is_refused_with_the_fix() -> None:
    with pytest.raises(InvalidRequestError, match="'Bogus: 1' is not known; remove it from 'Override"):
        parse_override_entries(["Bogus: 1"], OPTION_KEYS)


def test_override_value_of_wrong_type_is_reported(tmp_path) -> None:
    store = SettingsStore(tmp_path / "config.json")
    form = Txt2ImgForm(override_settings=["Clip skip: two"])
    expected = "override settings: setting 'CLIP_stop_at_last_layers' expects int"
    with pytest.raises(InvalidRequestError, match=expected):
        to_request(form, option_keys=OPTION_KEYS, coerce_settings=store.validate)


def test_form_field_names_are_the_handler_keywords() -> None:
    assert Txt2ImgForm.field_names()[:4] == ["prompt", "negative_prompt", "styles", "sampler_name"]
    assert "batch_count" in Txt2ImgForm.field_names() and "n_iter" not in Txt2ImgForm.field_names()
