"""Resize modes, flattening and size limits for img2img inputs (pure PIL, no model)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from modules.engine.resize import check_resize_mode, flatten_image, limit_pixels, resize_image


def striped(width: int, height: int) -> Image.Image:
    """Red left half, blue right half, a green top row: easy to see what a mode kept or cut."""
    arr = np.zeros((height, width, 3), dtype=np.uint8)
    arr[:, : width // 2] = (255, 0, 0)
    arr[:, width // 2 :] = (0, 0, 255)
    arr[0] = (0, 255, 0)
    return Image.fromarray(arr)


@pytest.mark.parametrize("mode", [0, 1, 2, 3])
@pytest.mark.parametrize("src", [(128, 64), (64, 128), (50, 50), (64, 64)])
def test_every_mode_gives_exactly_the_target_size(mode, src):
    assert resize_image(mode, striped(*src), 96, 64).size == (96, 64)


def test_same_size_is_a_pixel_identical_copy():
    image = striped(64, 64)
    out = resize_image(1, image, 64, 64)
    assert out is not image and np.array_equal(np.asarray(out), np.asarray(image))


def test_just_resize_stretches_the_whole_picture():
    out = np.asarray(resize_image(0, striped(128, 64), 64, 64))
    assert tuple(out[32, 5]) == (255, 0, 0) and tuple(out[32, 60]) == (0, 0, 255)


def test_crop_and_resize_cuts_the_overflow_from_both_sides():
    # 256x64 covering 64x64 becomes 256x64 -> centre 64 columns: the red/blue boundary sits in the middle.
    out = np.asarray(resize_image(1, striped(256, 64), 64, 64))
    assert tuple(out[32, 10]) == (255, 0, 0) and tuple(out[32, 54]) == (0, 0, 255)
    assert out[0, :, 1].min() == 255  # the top row is kept: nothing is cut vertically


def test_resize_and_fill_stretches_edge_pixels_into_the_border():
    # 128x64 into 64x64 -> 64x32 picture centred, 16 rows of border above and below.
    out = np.asarray(resize_image(2, striped(128, 64), 64, 64))
    assert (out[:16] == out[16]).all() and out[0, 10, 1] > 100  # the greenish top row, stretched upwards
    assert (out[48:] == out[47]).all() and tuple(out[63, 10]) == (255, 0, 0)  # the red bottom row, repeated
    assert tuple(out[32, 60]) == (0, 0, 255)


def test_resize_and_fill_works_on_masks():
    mask = Image.new("L", (32, 64), 255)
    out = resize_image(2, mask, 64, 64)
    assert out.mode == "L" and out.size == (64, 64) and np.asarray(out).min() == 255


def test_bad_resize_mode_names_the_choices():
    with pytest.raises(ValueError, match=r"resize_mode must be one of 0 \(Just resize\).*got 7"):
        check_resize_mode(7)
    with pytest.raises(ValueError, match="resize_mode"):
        resize_image(-1, striped(8, 8), 8, 8)


def test_rgba_transparent_parts_take_the_background_colour():
    image = Image.new("RGBA", (4, 4), (10, 20, 30, 0))
    image.putpixel((0, 0), (200, 100, 50, 255))
    out = flatten_image(image, "#00ff00")
    assert out.mode == "RGB" and out.getpixel((1, 1)) == (0, 255, 0)
    assert out.getpixel((0, 0)) == (200, 100, 50)


def test_palette_with_transparency_and_greyscale_are_converted():
    pal = Image.new("P", (4, 4), 0)
    pal.putpalette([255, 0, 0] + [0, 0, 255] * 255)
    pal.info["transparency"] = 0
    assert flatten_image(pal, "#ffffff").getpixel((0, 0)) == (255, 255, 255)
    grey = Image.new("L", (4, 4), 77)
    assert flatten_image(grey).getpixel((2, 2)) == (77, 77, 77)


def test_bad_background_colour_names_the_setting():
    with pytest.raises(ValueError, match="img2img_background_color 'nope' is not a colour"):
        flatten_image(Image.new("RGBA", (2, 2)), "nope")


def test_huge_images_are_shrunk_keeping_the_aspect_ratio():
    out = limit_pixels(Image.new("RGB", (400, 100)), max_pixels=100 * 100)
    assert out.size == (200, 50)
    small = Image.new("RGB", (10, 10))
    assert limit_pixels(small, 1000) is small
