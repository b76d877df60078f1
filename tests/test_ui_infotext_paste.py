"""Pasting an infotext into txt2img (PNG Info -> Send to txt2img, the ↙️ button): which field
gets which value, which settings become per-request overrides, and what is reported."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from modules.models.registry import CheckpointInfo
from modules.samplers.registry import SamplerRegistry
from modules.settings.store import SettingsStore
from modules.styles import StyleDatabase
from modules.ui.infotext_paste import checkpoint_mismatch, convert, paste_values
from modules.ui.paste_actions import plan_paste

EXAMPLE_UI = ("a cozy cabin in the woods, (snow:1.2), <lora:winterStyle:0.8>\n"
              "Negative prompt: blurry, lowres\n"
              "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234567890, "
              "Size: 512x512, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, "
              'Lora hashes: "winterStyle: 0123456789ab", Version: v1.10.1')
EXAMPLE_API = ("portrait of an astronaut, studio lighting\n"
               "Steps: 30, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7.0, Seed: 42, "
               "Size: 512x768, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.55, "
               "Clip skip: 2, Hires upscale: 2.0, Hires upscaler: Latent, Version: v1.10.1")
LOADED_SHA = "8e56425d74" + "0" * 54


@pytest.fixture
def runtime(tmp_path: Path) -> SimpleNamespace:
    styles_file = tmp_path / "styles.csv"
    styles_file.write_text('name,prompt,negative_prompt\nWarm,"{prompt}, warm light",cold\n',
                           encoding="utf-8")
    checkpoint = CheckpointInfo(filename=tmp_path / "tiny.safetensors", name="tiny.safetensors",
                                sha256=LOADED_SHA)
    return SimpleNamespace(settings=SettingsStore(tmp_path / "config.json"), samplers=SamplerRegistry(),
                           styles=StyleDatabase([styles_file]), checkpoint_for=lambda name: checkpoint)


def test_a1111_ui_infotext_fills_each_field_with_its_type(runtime: SimpleNamespace) -> None:
    plan = plan_paste(runtime, EXAMPLE_UI)
    hires = {k: plan.values.pop(k) for k in list(plan.values) if k.startswith("hr_") or k == "enable_hr"}
    assert hires["enable_hr"] is False and hires["hr_resize_x"] == 0  # A1111's defaults for absent hires keys
    assert plan.values.pop("enable_refiner") is False  # A1111 unticks the Refiner for unrefined pictures
    assert plan.values == {
        "prompt": "a cozy cabin in the woods, (snow:1.2), <lora:winterStyle:0.8>",
        "negative_prompt": "blurry, lowres", "steps": 20, "sampler_name": "DPM++ 2M",
        "scheduler": "Automatic",  # Karras is DPM++ 2M's own schedule, so A1111 shows Automatic
        "cfg_scale": 7.0, "seed": 1234567890, "width": 512, "height": 512}
    assert plan.overrides == []  # Clip skip 1 (the default filled in) equals the current setting


def test_different_checkpoint_is_warned_about_not_switched(runtime: SimpleNamespace) -> None:
    plan = plan_paste(runtime, EXAMPLE_UI)
    assert len(plan.warnings) == 1
    assert "v1-5-pruned-emaonly [6ce0161689]" in plan.warnings[0]
    assert "tiny.safetensors [8e56425d74] is loaded" in plan.warnings[0]


def test_same_checkpoint_by_hash_gives_no_warning(runtime: SimpleNamespace) -> None:
    text = EXAMPLE_UI.replace("6ce0161689", "8e56425d74")
    assert plan_paste(runtime, text).warnings == []


def test_settings_named_by_infotext_become_overrides_and_hires_fills_its_fields(runtime: SimpleNamespace) -> None:
    plan = plan_paste(runtime, EXAMPLE_API)
    assert plan.overrides == ["Clip skip: 2"]
    assert (plan.values["sampler_name"], plan.values["width"], plan.values["height"]) == ("Euler a", 512, 768)
    assert "negative_prompt" in plan.values and plan.values["negative_prompt"] == ""
    assert plan.values["enable_hr"] is True and plan.values["hr_scale"] == 2.0
    assert plan.values["hr_upscaler"] == "Latent" and plan.values["denoising_strength"] == 0.55
    assert not [w for w in plan.warnings if "hires" in w.lower()]


def test_checkpoint_override_only_when_auto_swap_is_allowed(runtime: SimpleNamespace) -> None:
    runtime.settings.update({"disable_weights_auto_swap": False}, save=False)
    assert "Model hash: 6ce0161689" in plan_paste(runtime, EXAMPLE_UI).overrides


def test_variation_seed_fields_and_tiling(runtime: SimpleNamespace) -> None:
    text = ("x\nSteps: 5, Sampler: Euler, CFG scale: 3, Seed: 7, Size: 64x96, Variation seed: 99, "
            "Variation seed strength: 0.3, Seed resize from: 128x192, Tiling: True")
    values = plan_paste(runtime, text).values
    assert (values["subseed"], values["subseed_strength"]) == (99, 0.3)
    assert (values["seed_resize_from_w"], values["seed_resize_from_h"], values["tiling"]) == (128, 192, True)
    assert "Tiling: True" not in plan_paste(runtime, text).overrides  # a form field, not an override


def test_legacy_sampler_names_split_into_sampler_and_schedule(runtime: SimpleNamespace) -> None:
    text = "x\nSteps: 5, Sampler: Euler a Karras, CFG scale: 3, Seed: 7, Size: 64x64"
    values = plan_paste(runtime, text).values
    assert (values["sampler_name"], values["scheduler"]) == ("Euler a", "Karras")


def test_unknown_sampler_is_reported_and_left_alone(runtime: SimpleNamespace) -> None:
    plan = plan_paste(runtime, "x\nSteps: 5, Sampler: Fancy 9000, CFG scale: 3, Seed: 7, Size: 64x64")
    assert "sampler_name" not in plan.values and "scheduler" not in plan.values
    assert plan.warnings[0].startswith("sampler 'Fancy 9000' is not available here")


def test_styles_are_recognised_and_removed_from_the_prompt(runtime: SimpleNamespace) -> None:
    text = ("a cat, warm light\nNegative prompt: cold\n"
            "Steps: 5, Sampler: Euler, CFG scale: 3, Seed: 7, Size: 64x64")
    values = plan_paste(runtime, text).values
    assert (values["prompt"], values["negative_prompt"], values["styles"]) == ("a cat", "", ["Warm"])


def test_empty_text_says_there_is_nothing() -> None:
    assert plan_paste(SimpleNamespace(), "  ").warnings == ["there is no generation information to paste"]


def test_bad_number_is_reported_not_raised() -> None:
    result = paste_values({"Steps": "many", "Seed": "5"})
    assert result.values == {"seed": 5}
    assert result.warnings == ["Steps: 'many' is not a valid int; left unchanged"]


@pytest.mark.parametrize(("kind", "raw", "expected"), [
    ("int", "20", 20), ("int", "20.0", 20), ("float", "7", 7.0), ("bool", "True", True),
    ("bool", "false", False),
    ("list", ["A", "B"], ["A", "B"]), ("str", 5, "5")])
def test_convert(kind: str, raw: object, expected: object) -> None:
    assert convert(kind, raw) == expected


def test_checkpoint_mismatch_by_name_when_no_hash() -> None:
    assert checkpoint_mismatch({"Model": "tiny"}, ["tiny", "tiny.safetensors"], "tiny.safetensors") is None
    assert "other" in (checkpoint_mismatch({"Model": "other"}, ["tiny"], "tiny.safetensors") or "")
    assert checkpoint_mismatch({}, ["tiny"], "tiny.safetensors") is None
