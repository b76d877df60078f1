"""Hires fix through the real engine (tiny SD1): both passes with their step counts (a UNet spy),
every latent mode and a model upscaler, A1111's infotext keys, prompt editing above 1 in the
hires pass, progress over both passes, interrupt in the hires pass, first-pass saving, bad input."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from modules.engine.control import JobControl
from modules.engine.features import Contribution
from modules.engine.generate import generate
from modules.engine.request import GenerationRequest
from modules.engine.validation import InvalidRequestError
from modules.hires.feature import HiresFeature
from modules.hires.params import hires_target, validate_hires
from modules.infotext import parse_generation_parameters
from modules.upscalers.catalog import UpscalerCatalog
from modules.upscalers.names import LATENT_MODES
from tests.fixtures.tiny_upscalers import write_tiny_esrgan

BASE = dict(width=64, height=64, steps=4, sampler_name="Euler", scheduler="Automatic", cfg_scale=5.0, seed=3,
            prompt="a red circle")
HIRES = dict(enable_hr=True, hr_scale=2.0, hr_second_pass_steps=4, denoising_strength=0.5)


class Spy:
    """Records (pass, latent width, step, conditioning) of every UNet call."""

    name = "spy"

    def __init__(self, on_call: Any = None) -> None:
        self.calls: list[tuple[int, int, int, Any]] = []
        self.on_call = on_call

    def __call__(self, call: Any, call_next: Any) -> Any:
        self.calls.append((call.pass_index, call.x.shape[-1], call.step, call.encoder_hidden_states.clone()))
        if self.on_call is not None:
            self.on_call(call)
        return call_next(call)


class SpyFeature:
    name = "spy"

    def __init__(self, spy: Spy) -> None:
        self.spy = spy

    def contribute(self, setup: Any, pass_: Any) -> Contribution:
        return Contribution(unet_wrappers=[self.spy])


@pytest.fixture()
def catalog(tmp_path: Path) -> UpscalerCatalog:
    write_tiny_esrgan(tmp_path / "ESRGAN" / "4x-tiny.safetensors")
    return UpscalerCatalog({"ESRGAN": tmp_path / "ESRGAN"})


def _run(ctx: Any, catalog: UpscalerCatalog, spy: Spy | None = None, control: JobControl | None = None,
         **fields: Any) -> Any:
    features = (HiresFeature(catalog),) + ((SpyFeature(spy),) if spy else ())
    req = GenerationRequest(**{**BASE, **HIRES, **fields})
    return generate(req, dataclasses.replace(ctx, features=features), control)


def test_both_passes_run_with_their_step_counts_and_progress_counts_both(ctx: Any, sd1_model: Any,
                                                                          catalog: UpscalerCatalog) -> None:
    spy, control = Spy(), JobControl()
    result = _run(ctx, catalog, spy, control, hr_second_pass_steps=6)
    f = sd1_model.vae_downscale
    passes = [(p, w) for p, w, _, _ in spy.calls]
    # Euler: one call per step. First pass 4 steps at 64 px; hires: strength 0.5 of 6 steps at 128 px.
    assert passes == [(0, 64 // f)] * 4 + [(1, 128 // f)] * 4
    assert result.images[0].size == (128, 128)
    snap = control.snapshot()
    assert (snap.sampling_step, snap.sampling_steps) == (8, 8)


def test_hires_steps_zero_means_as_many_as_the_first_pass(ctx: Any, catalog: UpscalerCatalog) -> None:
    spy = Spy()
    _run(ctx, catalog, spy, steps=6, hr_second_pass_steps=0, denoising_strength=1.0)
    assert sum(1 for p, *_ in spy.calls if p == 1) == 6


def test_infotext_has_a1111_hires_keys_and_the_first_pass_size(ctx: Any, catalog: UpscalerCatalog) -> None:
    result = _run(ctx, catalog, hr_upscaler="Latent (nearest)", hr_prompt="a blue circle")
    params = parse_generation_parameters(result.infotexts[0])
    assert params["Size-1"] == "64" and params["Size-2"] == "64"
    assert params["Hires upscale"] == "2.0" and params["Hires steps"] == "4"
    assert params["Hires upscaler"] == "Latent (nearest)" and params["Denoising strength"] == "0.5"
    assert params["Hires prompt"] == "a blue circle"
    resized = _run(ctx, catalog, hr_resize_x=96, hr_resize_y=0)
    params = parse_generation_parameters(resized.infotexts[0])
    assert resized.images[0].size == (96, 96) and params["Hires resize-1"] == "96"


@pytest.mark.parametrize("mode", list(LATENT_MODES))
def test_every_latent_mode_doubles_the_size(ctx: Any, catalog: UpscalerCatalog, mode: str) -> None:
    result = _run(ctx, catalog, hr_upscaler=mode, steps=1, hr_second_pass_steps=1, denoising_strength=1.0)
    assert result.images[0].size == (128, 128)


def test_a_model_upscaler_and_the_built_in_ones(ctx: Any, catalog: UpscalerCatalog) -> None:
    for name in ("4x-tiny", "Lanczos", "Nearest", "None"):
        result = _run(ctx, catalog, hr_upscaler=name, steps=1, hr_second_pass_steps=1)
        assert result.images[0].size == (128, 128), name
        assert f"Hires upscaler: {name}" in result.infotexts[0]


def test_resize_to_both_sides_covers_then_crops() -> None:
    req = GenerationRequest(**{**BASE, "width": 64, "height": 96, "hr_resize_x": 128, "hr_resize_y": 128})
    t = hires_target(req)
    assert (t.width, t.height, t.cover_width, t.cover_height) == (128, 128, 128, 192)


def test_prompt_editing_above_1_switches_inside_the_hires_pass(ctx: Any, catalog: UpscalerCatalog) -> None:
    spy = Spy()
    _run(ctx, catalog, spy, prompt="[a red circle:a blue square:1.5]", hr_second_pass_steps=8,
         denoising_strength=1.0)
    first = [c for p, _, _, c in spy.calls if p == 0]
    hires = [c for p, _, _, c in spy.calls if p == 1]
    assert all(c.equal(first[0]) for c in first)  # the first pass keeps "a red circle"
    assert hires[0].equal(first[0]) and not hires[-1].equal(first[0])  # the hires pass switches halfway


def test_interrupt_during_the_hires_pass_stops_the_job(ctx: Any, catalog: UpscalerCatalog) -> None:
    control = JobControl()
    spy = Spy(on_call=lambda call: control.interrupt() if call.pass_index == 1 else None)
    result = _run(ctx, catalog, spy, control, n_iter=2)
    assert result.interrupted and sum(1 for p, *_ in spy.calls if p == 1) == 1
    assert sum(1 for p, *_ in spy.calls if p == 0) == 4  # the second batch never started


def test_skip_during_the_hires_pass_moves_to_the_next_batch(ctx: Any, catalog: UpscalerCatalog) -> None:
    control = JobControl()
    seen: list[int] = []

    def skip_once(call: Any) -> None:
        if call.pass_index == 1 and not seen:
            seen.append(1)
            control.skip()

    result = _run(ctx, catalog, Spy(on_call=skip_once), control, n_iter=2)
    assert not result.interrupted and len(result.images) == 1 and result.images[0].size == (128, 128)


def test_first_pass_picture_is_saved_when_the_setting_asks(tiny_sd1: Path, sd1_model: Any, tmp_path: Path,
                                                           catalog: UpscalerCatalog) -> None:
    """Saved like A1111 (suffix `-before-highres-fix`) with each picture's own infotext, which PNG
    Info reads back: first-pass Size, that picture's seed, and the hires keys of the job."""
    from modules.images.pnginfo import read_info_from_image
    from modules.infotext import parse_generation_parameters
    from tests.engine_helpers import engine_context

    ctx = engine_context(tiny_sd1, tmp_path, {"save_images_before_highres_fix": True}, model=sd1_model)
    result = _run(ctx, catalog, save_images=True, steps=1, hr_second_pass_steps=1, batch_size=2,
                  hr_upscaler="4x-tiny")
    files = sorted((tmp_path / "outputs" / "txt2img-images").rglob("*.png"))
    firsts = [f for f in files if "-before-highres-fix" in f.name]
    assert len(files) == 4 and len(firsts) == 2
    assert result.images[-1].size == (128, 128)
    for index, path in enumerate(firsts):
        with Image.open(path) as picture:
            assert picture.size == (64, 64)
            text, _ = read_info_from_image(picture)
        assert text is not None
        params = parse_generation_parameters(text)
        assert params["Size-1"] == "64" and params["Size-2"] == "64"
        assert str(params["Seed"]) == str(result.seeds[index])
        assert params["Hires upscaler"] == "4x-tiny" and params["Prompt"] == "a red circle"


@pytest.mark.parametrize("fields, needle", [
    ({"hr_scale": 0}, "hr_scale must be between 1 and 8"),
    ({"hr_scale": 100}, "hr_scale must be between 1 and 8"),
    ({"hr_upscaler": "4x-Nope"}, "hr_upscaler: upscaler '4x-Nope' not found"),
    ({"hr_scale": 4, "width": 1024, "height": 1024}, "limit is 2048"),
    ({"denoising_strength": 1.5}, "denoising_strength"),
])
def test_bad_hires_input_names_the_field(catalog: UpscalerCatalog, fields: dict, needle: str) -> None:
    req = GenerationRequest(**{**BASE, **HIRES, **fields})
    with pytest.raises(InvalidRequestError, match=needle):
        validate_hires(req, catalog)
