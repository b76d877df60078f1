"""The pixel judge reads world pictures (clean and degraded) back into their captions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from modules.training import judge, world


def test_judge_reads_every_scene_correctly():
    for scene in world.balanced_scenes(21, 1, world.all_scene_keys()):
        result = judge.score(world.render(scene), scene.caption)
        assert result.all_ok, (scene, result.verdict)


def test_judge_survives_blur_and_noise():
    rng = np.random.default_rng(0)
    for scene in world.scenes(5, 60, world.all_scene_keys()):
        img = world.render(scene).astype(np.float32)
        img = ndimage.gaussian_filter(img, sigma=(1.0, 1.0, 0)) + rng.normal(0, 12, img.shape)
        result = judge.score(np.clip(img, 0, 255).astype(np.uint8), scene.caption)
        assert result.all_ok, (scene, result.verdict)


def test_fill_ratios_match_the_shapes():
    verdicts = {s: judge.judge_image(world.render(world.Scene("white", s, "black", (0.5, 0.5), 0.25)))
                for s in world.SHAPES}
    assert verdicts["square"].fill_ratio == pytest.approx(1.0, abs=0.02)
    assert verdicts["circle"].fill_ratio == pytest.approx(np.pi / 4, abs=0.03)
    assert verdicts["triangle"].fill_ratio == pytest.approx(0.5, abs=0.08)
    assert [judge.shape_from_fill(f) for f in (0.97, 0.8, 0.52)] == ["square", "circle", "triangle"]


def test_wrong_caption_is_scored_per_attribute():
    img = world.render(world.Scene("yellow", "triangle", "purple", (0.5, 0.5), 0.25))
    result = judge.score(img, "a yellow circle on a black background")
    flags = (result.background_ok, result.colour_ok, result.shape_ok, result.all_ok)
    assert flags == (False, True, False, False)


def test_empty_picture_has_no_shape():
    img = np.full((64, 64, 3), world.COLOURS["green"], np.uint8)
    verdict = judge.judge_image(img)
    assert (verdict.background, verdict.colour, verdict.shape) == ("green", "none", "none")


def test_nearest_colour_and_pil_input():
    from PIL import Image

    assert judge.nearest_colour(np.array([250, 150, 0])) == "orange"
    assert judge.nearest_colour(np.array([128, 40, 170])) == "purple"
    img = Image.fromarray(world.render(world.Scene("black", "square", "white", (0.5, 0.5), 0.2)))
    assert judge.score(img, "a black square on a white background").all_ok


def test_judge_errors_name_the_problem():
    with pytest.raises(ValueError, match="RGB image"):
        judge.judge_image(np.zeros((64, 64), np.uint8))
    with pytest.raises(ValueError, match="too small"):
        judge.judge_image(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="not a world caption"):
        judge.score(np.zeros((64, 64, 3), np.uint8), "a cat")
