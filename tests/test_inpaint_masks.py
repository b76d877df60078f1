"""Mask reading, blur, the "Only masked" crop, fill, and the byte-exact composite (no model)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from modules.engine.masks import (
    Overlay,
    blur_mask,
    composite,
    crop_region,
    doubled,
    expand_to_aspect,
    fill_masked,
    is_empty,
    latent_mask,
    read_mask,
)
from tests.image_helpers import box_mask


def test_rgba_mask_is_read_from_its_alpha_and_binarised():
    mask = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    mask.putpixel((1, 1), (0, 0, 0, 200))
    mask.putpixel((2, 2), (255, 255, 255, 100))
    out = np.asarray(read_mask(mask, (8, 8)))
    assert out[1, 1] == 255 and out[2, 2] == 0 and out.sum() == 255


def test_mask_of_another_size_is_stretched_to_the_image_and_invert_flips_it():
    out = read_mask(box_mask((32, 32), (8, 8, 24, 24)), (64, 64), invert=True)
    arr = np.asarray(out)
    assert out.size == (64, 64) and arr[32, 32] == 0 and arr[2, 2] == 255


def test_blur_x_and_y_are_separate():
    mask = box_mask()
    only_x = np.asarray(blur_mask(mask, 4, 0))
    assert only_x[32, 14] > 0 and only_x[14, 32] == 0  # spreads sideways, not up
    only_y = np.asarray(blur_mask(mask, 0, 4))
    assert only_y[14, 32] > 0 and only_y[32, 14] == 0
    assert np.array_equal(np.asarray(blur_mask(mask, 0, 0)), np.asarray(mask))


def test_blur_reach_is_the_a1111_kernel_radius():
    # sigma 4 -> kernel 2*int(2.5*4+0.5)+1 = 21 taps: reaches 10 pixels, not 11.
    arr = np.asarray(blur_mask(box_mask(), 4, 4))
    assert arr[32, 16 - 10] >= 0 and arr[32, 16 - 11] == 0 and arr[32, 47 + 11] == 0


def test_crop_region_pads_and_clips_and_is_none_for_an_empty_mask():
    assert crop_region(box_mask(), 8) == (8, 8, 56, 56)
    assert crop_region(box_mask(box=(0, 0, 10, 10)), 32) == (0, 0, 42, 42)
    assert crop_region(Image.new("L", (16, 16)), 4) is None
    assert is_empty(Image.new("L", (16, 16))) and not is_empty(box_mask())


def test_expand_to_aspect_grows_the_short_side_and_stays_inside():
    assert expand_to_aspect((10, 20, 30, 30), 64, 64, 100, 100) == (10, 15, 30, 35)
    # Against the bottom edge the region shifts up instead of leaving the image.
    assert expand_to_aspect((10, 90, 50, 100), 64, 64, 100, 100) == (10, 60, 50, 100)
    # A wide target widens a tall region.
    x1, y1, x2, y2 = expand_to_aspect((40, 0, 60, 40), 128, 64, 100, 100)
    assert (x2 - x1, y2 - y1) == (80, 40) and x1 >= 0 and x2 <= 100


def test_fill_replaces_the_hole_with_surrounding_colours_and_keeps_the_rest():
    arr = np.zeros((64, 64, 3), dtype=np.uint8)
    arr[:, :32] = (200, 0, 0)
    arr[:, 32:] = (0, 0, 200)
    arr[16:48, 16:48] = (0, 255, 0)  # the content to hide
    mask = box_mask()
    out = np.asarray(fill_masked(Image.fromarray(arr), mask))
    assert np.array_equal(out[np.asarray(mask) == 0], arr[np.asarray(mask) == 0])
    hole = out[16:48, 16:48].astype(int)
    assert hole[..., 1].max() < 40  # no trace of the hidden green
    assert hole[16, 2, 0] > hole[16, 2, 2]  # red side red
    assert hole[16, 29, 2] > hole[16, 29, 0]  # blue side blue


def test_latent_mask_is_rounded_at_latent_size():
    lat = latent_mask(blur_mask(box_mask(), 4, 4), (8, 8))
    assert lat.shape == (1, 1, 8, 8) and set(lat.unique().tolist()) <= {0.0, 1.0}
    assert lat[0, 0, 4, 4] == 1 and lat[0, 0, 0, 0] == 0


def test_composite_keeps_every_original_byte_where_the_overlay_mask_is_zero():
    rng = np.random.default_rng(0)
    original = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    generated = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    soft = blur_mask(box_mask(), 4, 4)
    out = np.asarray(composite(generated, Overlay(original, doubled(soft))))
    zero = np.asarray(soft) == 0
    assert np.array_equal(out[zero], np.asarray(original)[zero])
    assert np.array_equal(out[32, 32], np.asarray(generated)[32, 32])  # fully repainted centre


def test_composite_pastes_a_crop_back_into_its_box():
    original = Image.new("RGB", (100, 80), (10, 10, 10))
    generated = Image.new("RGB", (64, 64), (250, 250, 250))
    mask = Image.new("L", (100, 80), 0)
    mask.paste(255, (40, 30, 60, 50))
    out = np.asarray(composite(generated, Overlay(original, mask, paste_box=(30, 20, 70, 60))))
    assert out.shape == (80, 100, 3)
    assert tuple(out[40, 50]) == (250, 250, 250)
    assert (out[np.asarray(mask) == 0] == 10).all()


@pytest.mark.parametrize("value,expected", [(0, 0), (100, 200), (128, 255), (255, 255)])
def test_doubled_overlay_mask(value, expected):
    assert doubled(Image.new("L", (1, 1), value)).getpixel((0, 0)) == expected
