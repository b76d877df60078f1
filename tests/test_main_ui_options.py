"""Settings shown in the txt2img/img2img tabs (A1111's extra options): which settings are shown,
how their values reach one request (face_restoration -> restore_faces, others -> overrides) and
how a pasted "Face restoration" lands on the checkbox, or in Override settings without it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from modules.engine.request import GenerationRequest
from modules.engine.validation import InvalidRequestError
from modules.samplers.registry import SamplerRegistry
from modules.settings.schema import infotext_to_option_keys
from modules.settings.store import SettingsStore
from modules.ui.main_ui_options import (
    PREFIX,
    apply_main_ui_options,
    shown_options,
    split_main_ui_options,
)
from modules.ui.paste_actions import plan_paste
from modules.ui.paste_wiring import field_updates
from modules.ui.txt2img_form import typed_overrides

INFOTEXT = "a face\nSteps: 2, Sampler: Euler, Seed: 4, Size: 64x64, Face restoration: CodeFormer"


@pytest.fixture
def runtime(tmp_path: Path) -> SimpleNamespace:
    settings = SettingsStore(tmp_path / "config.json")
    settings.update({"extra_options_txt2img": ["face_restoration", "CLIP_stop_at_last_layers", "no_such_option"]})
    return SimpleNamespace(settings=settings, samplers=SamplerRegistry(), styles=None,
                           checkpoint_for=lambda name: (_ for _ in ()).throw(LookupError()))


def test_shown_options_follow_the_setting(runtime: SimpleNamespace) -> None:
    assert shown_options(runtime, "txt2img") == ["face_restoration", "CLIP_stop_at_last_layers"]
    assert shown_options(runtime, "img2img") == []


def test_values_apply_to_this_request_only(runtime: SimpleNamespace) -> None:
    values, options = split_main_ui_options({"prompt": "x", PREFIX + "face_restoration": True,
                                             PREFIX + "CLIP_stop_at_last_layers": 2})
    assert values == {"prompt": "x"}
    req = apply_main_ui_options(runtime, GenerationRequest(prompt="x"), options)
    assert req.restore_faces is True and dict(req.override_settings) == {"CLIP_stop_at_last_layers": 2}
    kept = apply_main_ui_options(runtime, GenerationRequest(override_settings={"CLIP_stop_at_last_layers": 3}),
                                 {"face_restoration": False, "CLIP_stop_at_last_layers": 2})
    assert kept.restore_faces is False and dict(kept.override_settings) == {"CLIP_stop_at_last_layers": 3}
    assert runtime.settings.get("face_restoration") is False  # the stored setting is untouched
    with pytest.raises(InvalidRequestError, match="CLIP_stop_at_last_layers"):
        apply_main_ui_options(runtime, GenerationRequest(), {"CLIP_stop_at_last_layers": "many"})


def test_pasted_face_restoration_ticks_the_checkbox_or_becomes_an_override(runtime: SimpleNamespace) -> None:
    plan = plan_paste(runtime, INFOTEXT)
    assert plan.values["restore_faces"] is True and plan.overrides == []
    box, overrides = object(), object()
    assert field_updates(plan, {"restore_faces": box})[box] is True
    without = field_updates(plan, {"override_settings": overrides})[overrides]
    assert without["value"] == ["Face restoration: True"]
    typed = typed_overrides(without["value"], infotext_to_option_keys(runtime.settings.schema),
                            runtime.settings.validate)
    assert typed == {"face_restoration": True}


def test_ticking_restore_faces_without_the_model_is_refused_before_the_job(runtime: SimpleNamespace,
                                                                          tmp_path: Path) -> None:
    from modules.face_restoration.models import FaceModels, FaceRestorationError

    runtime.faces = FaceModels({"CodeFormer": tmp_path / "Codeformer", "GFPGAN": tmp_path / "GFPGAN"},
                               tmp_path / "face_detection")
    with pytest.raises(FaceRestorationError, match=r"no CodeFormer model; put one into .*Codeformer"):
        apply_main_ui_options(runtime, GenerationRequest(), {"face_restoration": True})
    assert apply_main_ui_options(runtime, GenerationRequest(), {"face_restoration": False}).restore_faces is False
