"""Outpainting mk2: script arguments, canvas layout and pre-fill, and one tiny SD1 run."""

from __future__ import annotations

import numpy as np
import pytest

from modules.engine.request import GenerationRequest
from modules.engine.validation import InvalidRequestError
from modules.scripts import BUILTIN_SCRIPTS, find_builtin_script, run_builtin_script
from modules.scripts.outpainting import (
    OutpaintArgs,
    build_canvas,
    canvas_layout,
    parse_script_args,
    run_outpainting,
    shaped_noise,
)
from tests.engine_helpers import engine_context, pixels
from tests.image_helpers import noise_image

SMALL = dict(mode="img2img", steps=2, cfg_scale=5.0, sampler_name="Euler", seed=4, save_images=False,
             denoising_strength=0.8)


@pytest.fixture(scope="module")
def ctx(tiny_sd1, tmp_path_factory):
    return engine_context(tiny_sd1, tmp_path_factory.mktemp("outpaint"))


@pytest.mark.parametrize("args", [
    ["", 16, 4, ["left", "up"], 0.5, 0.2],  # A1111's order, with the info label first
    [None, 16, 4, ["left", "up"], 0.5, 0.2],
    [16, 4, ["left", "up"], 0.5, 0.2],  # without the label
    ["16", 4, "left, up", 0.5, 0.2],
    [{"pixels": 16, "mask_blur": 4, "directions": ["up", "LEFT"], "noise_q": 0.5, "color_variation": 0.2}],
])
def test_script_args_in_every_accepted_shape(args):
    assert parse_script_args(args) == OutpaintArgs(16, 4, ("left", "up"), 0.5, 0.2)


def test_missing_args_take_a1111_defaults():
    assert parse_script_args([]) == OutpaintArgs(128, 8, ("left", "right", "up", "down"), 1.0, 0.05)


@pytest.mark.parametrize("args,message", [
    ([16, 4, ["sideways"]], "direction must be one or more of left, right, up, down"),
    ([16, 4, []], "direction must be one or more"),
    (["", "many", 4], "pixels must be a number"),
    ([0, 4], "pixels must be between 1 and 1024"),
    ([16, 99], "mask_blur must be between 0 and 64"),
    ([16, 4, ["up"], 1, 2, 3], "at most 5 arguments"),
])
def test_bad_script_args_are_named(args, message):
    with pytest.raises(InvalidRequestError, match=message):
        parse_script_args(args)


def test_canvas_grows_to_a_multiple_of_8_on_the_chosen_sides():
    args = OutpaintArgs(pixels=20, directions=("left", "down"))
    assert canvas_layout(60, 64, args) == (20, 0, 0, 24)  # 60+20 = 80 wide; 64+20 -> 88 high
    assert canvas_layout(64, 61, OutpaintArgs(pixels=16, directions=("left", "right"))) == (16, 0, 16, 3)
    with pytest.raises(InvalidRequestError, match="larger than 2048"):
        canvas_layout(2000, 64, OutpaintArgs(pixels=100, directions=("right",)))


def test_canvas_keeps_the_picture_masks_the_new_area_and_a_blur_band():
    image = noise_image(64, 48)
    canvas = build_canvas(image, OutpaintArgs(pixels=16, mask_blur=4, directions=("right", "up")), seed=1)
    assert canvas.image.size == (80, 64) and canvas.box == (0, 16, 64, 64)
    assert np.array_equal(np.asarray(canvas.image)[16:, :64], np.asarray(image))
    mask = np.asarray(canvas.mask)
    assert (mask[:16] == 255).all() and (mask[:, 64:] == 255).all()  # the new area
    assert (mask[16:20, :60] == 255).all() and (mask[16:, 60:64] == 255).all()  # 4 px into the old picture
    assert (mask[20:, :60] == 0).all()
    new = np.asarray(canvas.image)[:16, :64].astype(float)
    assert new.std() > 5  # noise, not a flat colour


def test_shaped_noise_is_unit_and_smoother_with_higher_q():
    rng = np.random.default_rng(0)
    fine, smooth = shaped_noise(64, 64, 0.0, rng), shaped_noise(64, 64, 2.0, rng)
    assert abs(fine.std() - 1) < 1e-6 and abs(smooth.std() - 1) < 1e-6
    assert np.abs(np.diff(smooth, axis=1)).mean() < np.abs(np.diff(fine, axis=1)).mean() / 2


def test_outpainting_extends_the_canvas_and_keeps_the_old_area(ctx):
    image = noise_image(64, 64)
    req = GenerationRequest(init_images=(image,), width=512, height=512, **SMALL)
    res = run_outpainting(req, ctx, pixels=16, mask_blur=4, directions=["left", "down"])
    out = pixels(res.images[0])
    assert res.images[0].size == (80, 80)
    # The old picture sits at (16, 0); the seam band (4 px of mask + 10 px of blur) may change.
    kept = out[: 64 - 14, 16 + 14 :]
    assert np.array_equal(kept, pixels(image)[: 64 - 14, 14:])
    assert "Size: 80x80" in res.infotexts[0] and "Mask blur: 4" in res.infotexts[0]


def test_registry_runs_the_script_by_its_a1111_name(ctx):
    assert find_builtin_script(" Outpainting MK2 ") is BUILTIN_SCRIPTS["outpainting mk2"]
    req = GenerationRequest(init_images=(noise_image(56, 64),), script_name="Outpainting mk2",
                            script_args=("", 8, 0, ["right"], 1.0, 0.05), **SMALL)
    res = run_builtin_script(req, ctx)
    assert res.images[0].size == (64, 64)
    assert np.array_equal(pixels(res.images[0])[:, :56], pixels(req.init_images[0]))  # no blur: all kept


def test_registry_errors_name_the_known_scripts(ctx):
    with pytest.raises(InvalidRequestError, match="'nope' not found; built-in scripts: Outpainting mk2"):
        run_builtin_script(GenerationRequest(script_name="nope"), ctx)
    with pytest.raises(InvalidRequestError, match="img2img script"):
        run_builtin_script(GenerationRequest(script_name="outpainting mk2"), ctx)
