"""txt2img through the engine with tiny checkpoints: determinism, seeds, batches, saving, infotext."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

from modules.engine.generate import generate
from modules.engine.request import GenerationRequest
from modules.engine.validation import InvalidRequestError
from modules.infotext import parse_generation_parameters
from modules.jobs.progress import JobControl
from tests.engine_helpers import engine_context, pixels

SMALL = dict(width=64, height=64, steps=3, cfg_scale=5.0, sampler_name="Euler", save_images=False)


def test_same_request_twice_gives_identical_pixels(ctx):
    req = GenerationRequest(prompt="a red circle", seed=123, **SMALL)
    a, b = generate(req, ctx).images[0], generate(req, ctx).images[0]
    assert a.size == (64, 64)
    assert np.array_equal(pixels(a), pixels(b))
    assert pixels(a).std() > 0  # not a flat image


def test_image_k_of_a_batch_equals_its_seed_alone(ctx):
    batch = generate(GenerationRequest(prompt="x", seed=50, batch_size=3, **SMALL), ctx)
    assert batch.seeds == [50, 51, 52]
    assert batch.index_of_first_image == 1 and len(batch.images) == 4  # grid first
    alone = generate(GenerationRequest(prompt="x", seed=52, **SMALL), ctx)
    # Same noise, same conditioning; batched kernels may round differently (one torch thread here), so
    # allow the last bit of a few pixels, as A1111's batches do.
    diff = np.abs(pixels(batch.images[3]).astype(int) - pixels(alone.images[0]).astype(int))
    assert diff.max() <= 2 and diff.mean() < 0.05, (diff.max(), diff.mean())


def test_batch_count_continues_seeds_and_grid(ctx):
    res = generate(GenerationRequest(prompt="x", seed=7, n_iter=2, **SMALL), ctx)
    assert res.seeds == [7, 8]
    assert res.info["all_seeds"] == [7, 8] and res.info["index_of_first_image"] == 1


def test_variation_seed_strength_ends(ctx):
    base = generate(GenerationRequest(prompt="x", seed=10, **SMALL), ctx).images[0]
    other = generate(GenerationRequest(prompt="x", seed=99, **SMALL), ctx).images[0]
    zero = generate(GenerationRequest(prompt="x", seed=10, subseed=99, subseed_strength=0.0, **SMALL), ctx)
    half = generate(GenerationRequest(prompt="x", seed=10, subseed=99, subseed_strength=0.5, **SMALL), ctx)
    full = generate(GenerationRequest(prompt="x", seed=10, subseed=99, subseed_strength=1.0, **SMALL), ctx)
    assert np.array_equal(pixels(zero.images[0]), pixels(base))
    assert np.abs(pixels(full.images[0]) - pixels(other)).max() <= 1
    assert not np.array_equal(pixels(half.images[0]), pixels(base))
    info = parse_generation_parameters(half.infotexts[0])
    assert info["Variation seed"] == "99" and info["Variation seed strength"] == "0.5"


def test_negative_prompt_and_cfg_change_the_image(ctx):
    plain = generate(GenerationRequest(prompt="a cat", seed=1, **SMALL), ctx).images[0]
    neg = generate(GenerationRequest(prompt="a cat", negative_prompt="dog", seed=1, **SMALL), ctx).images[0]
    assert not np.array_equal(pixels(plain), pixels(neg))


def test_infotext_written_and_read_back(ctx):
    req = GenerationRequest(prompt="a (red:1.2) circle", negative_prompt="blurry", seed=42,
                            **{**SMALL, "sampler_name": "DPM++ 2M"})
    res = generate(req, ctx)
    text = res.infotexts[0]
    assert text.splitlines()[0] == "a (red:1.2) circle"
    assert text.splitlines()[1] == "Negative prompt: blurry"
    p = parse_generation_parameters(text)
    assert p["Steps"] == "3" and p["Sampler"] == "DPM++ 2M" and p["Schedule type"] == "Karras"
    assert p["CFG scale"] == "5.0" and p["Seed"] == "42" and p["Size-1"] == "64" and p["Size-2"] == "64"
    assert p["Model hash"] == "0123456789" and p["Model"] == ctx.model_name
    assert res.images[0].info["parameters"] == text


def test_saved_file_name_folder_and_png_chunk(tiny_sd1, sd1_model, tmp_path):
    ctx = engine_context(tiny_sd1, tmp_path, model=sd1_model)
    res = generate(GenerationRequest(prompt="x", seed=1234, **{**SMALL, "save_images": True}), ctx)
    path = res.saved_paths[0]
    assert re.search(r"outputs/txt2img-images/\d{4}-\d{2}-\d{2}/00000-1234\.png$", path), path
    with Image.open(path) as im:
        assert im.info["parameters"] == res.infotexts[0]
    again = generate(GenerationRequest(prompt="x", seed=1234, batch_size=2, **{**SMALL, "save_images": True}), ctx)
    names = sorted(p.rsplit("/", 1)[1] for p in again.saved_paths)
    assert names[:2] == ["00001-1234.png", "00002-1235.png"] and names[2].startswith("grid-0000")


def test_clip_skip_override_shows_in_infotext(tiny_sd1, sd1_model, tmp_path):
    ctx = engine_context(tiny_sd1, tmp_path, {"CLIP_stop_at_last_layers": 2}, model=sd1_model)
    res = generate(GenerationRequest(prompt="x", seed=3, **SMALL), ctx)
    assert "Clip skip: 2" in res.infotexts[0]


def test_tiling_changes_pixels_and_restores_padding(ctx):
    plain = generate(GenerationRequest(prompt="x", seed=5, **SMALL), ctx).images[0]
    tiled = generate(GenerationRequest(prompt="x", seed=5, tiling=True, **SMALL), ctx)
    assert not np.array_equal(pixels(plain), pixels(tiled.images[0]))
    assert "Tiling: True" in tiled.infotexts[0]
    modes = {m.padding_mode for m in ctx.model.unet.modules() if isinstance(m, torch.nn.Conv2d)}
    assert modes == {"zeros"}


def test_interrupt_returns_finished_images(ctx):
    control = JobControl()
    calls = {"n": 0}
    original = control.step

    def step(i, preview=None):
        calls["n"] += 1
        if calls["n"] == 4:  # during the second batch
            control.interrupt()
        original(i, preview)

    control.step = step
    res = generate(GenerationRequest(prompt="x", seed=1, n_iter=3, **SMALL), ctx, control)
    assert res.interrupted and res.seeds == [1]


def test_skip_moves_to_the_next_batch(ctx):
    control = JobControl()
    original = control.step
    state = {"n": 0}

    def step(i, preview=None):
        state["n"] += 1
        if state["n"] == 2:
            control.skip()
        original(i, preview)

    control.step = step
    res = generate(GenerationRequest(prompt="x", seed=1, n_iter=2, **SMALL), ctx, control)
    assert not res.interrupted and res.seeds == [2]


@pytest.mark.parametrize("bad, message", [
    (dict(width=65), "multiple of 8"),
    (dict(height=4096), "between 64 and 2048"),
    (dict(steps=0), "steps"),
])
def test_bad_requests_are_refused_clearly(ctx, bad, message):
    with pytest.raises(InvalidRequestError, match=message):
        generate(GenerationRequest(prompt="x", **{**SMALL, **bad}), ctx)


def test_unknown_sampler_is_an_error_not_a_fallback(ctx):
    from modules.samplers.registry import UnknownSamplerError

    with pytest.raises(UnknownSamplerError, match="Euler a"):
        generate(GenerationRequest(prompt="x", **{**SMALL, "sampler_name": "Eulerish"}), ctx)


@pytest.mark.parametrize("sampler", ["Euler a", "DPM++ 2M", "DPM++ SDE", "DPM++ 2M SDE", "Heun", "LMS", "DDIM",
                                     "PLMS", "UniPC", "DPM2 a", "Restart", "LCM", "DPM fast",
                                     "DPM++ 3M SDE", "DPM++ 2S a", "DDIM CFG++", "DPM2", "DPM++ 2M SDE Heun"])
def test_every_sampler_generates_deterministically(ctx, sampler):
    """DPM adaptive picks its own step count (hundreds of calls on a random model): its behaviour
    is covered at the sampler level in tests/test_samplers_behaviour.py."""
    req = GenerationRequest(prompt="x", seed=11, **{**SMALL, "sampler_name": sampler})
    a, b = generate(req, ctx), generate(req, ctx)
    assert np.array_equal(pixels(a.images[0]), pixels(b.images[0]))
    assert f"Sampler: {sampler}," in a.infotexts[0]


@pytest.mark.parametrize("fixture", ["tiny_sd2v", "tiny_sdxl", "tiny_sdxl_refiner", "tiny_sd1_inpaint",
                                     "tiny_sdxl_inpaint"])
def test_other_families_generate(fixture, request, tmp_path):
    path = request.getfixturevalue(fixture)
    ctx = engine_context(path, tmp_path)
    res = generate(GenerationRequest(prompt="a photo", negative_prompt="ugly", seed=2,
                                     **{**SMALL, "width": 64, "height": 96}), ctx)
    assert res.images[0].size == (64, 96)
    assert pixels(res.images[0]).std() > 0


class _RecordingControl(JobControl):
    """Keeps every (step, progress text) the engine reports."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, str | None]] = []

    def step(self, step, preview=None) -> None:
        self.seen.append((step, self.textinfo))
        super().step(step, preview)


def test_dpm_adaptive_progress_says_it_ignores_the_step_count(ctx):
    control = _RecordingControl()
    generate(GenerationRequest(prompt="x", seed=1, **{**SMALL, "sampler_name": "DPM adaptive"}), ctx, control)
    steps, texts = zip(*control.seen)
    assert len(steps) != SMALL["steps"]  # it chose its own count
    expected = f"DPM adaptive picks its own number of steps (Sampling steps is ignored): {steps[-1]} done so far"
    assert texts[-1] == expected
    assert ctx.samplers.get("DPM adaptive").description.startswith("Ignores Sampling steps")
    euler = _RecordingControl()
    generate(GenerationRequest(prompt="x", seed=1, **SMALL), ctx, euler)
    assert [s for s, _ in euler.seen] == [1, 2, 3] and all(t is None for _, t in euler.seen)
