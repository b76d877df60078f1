"""Control maps resized by their kind: a 1-px line survives an 8x shrink at full strength, maps of
flat colours gain no new colours, and smooth maps (depth) resize smoothly as before."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from modules.controlnet.control_image import fit_to_size, hint_tensor
from modules.controlnet.map_resize import colour_count, is_binary_map, resize_map
from modules.controlnet.unit import ResizeMode


def _line_map(size: int = 512) -> np.ndarray:
    """Canny-like: black with 1-px white lines (a vertical, a horizontal and a diagonal one)."""
    image = np.zeros((size, size, 3), np.uint8)
    image[:, size * 100 // 512] = 255
    image[size * 300 // 512, :] = 255
    for i in range(size):
        image[i, i] = 255
    return image


def test_a_one_pixel_line_keeps_full_strength_when_shrunk_8x() -> None:
    small = resize_map(_line_map(), 64, 64)
    assert small.shape == (64, 64, 3) and set(np.unique(small)) == {0, 255}  # still black and white
    assert (small[:, 100 // 8] == 255).all()  # the vertical line: every row, full strength
    assert (small[300 // 8, :] == 255).all()  # the horizontal line
    assert all(small[i, i, 0] == 255 for i in range(64))  # the diagonal
    assert (small == 255).mean() < 0.1  # lines stay lines, not a white field
    plain = cv2.resize(_line_map(), (64, 64), interpolation=cv2.INTER_AREA)
    assert plain[:, 100 // 8].max() < 64  # what a plain area resize makes of it: faint grey


def test_black_lines_on_white_survive_too() -> None:
    small = resize_map(255 - _line_map(), 64, 64)
    assert (small[:, 100 // 8] == 0).all() and (small[300 // 8, :] == 0).all()


def test_the_hint_of_a_512_canny_map_at_64_px_has_full_strength_lines() -> None:
    hint = hint_tensor(_line_map(), 64, 64, ResizeMode.CROP_AND_RESIZE)
    assert hint.shape == (1, 3, 64, 64) and float(hint[0, 0, :, 100 // 8].min()) == 1.0


def test_binary_map_enlarged_stays_binary() -> None:
    big = resize_map(_line_map(128), 512, 512)
    assert set(np.unique(big)) == {0, 255} and (big[:, 25 * 4 + 1] == 255).all()


def test_depth_maps_resize_smoothly_as_before() -> None:
    ramp = np.tile(np.linspace(0, 255, 512, dtype=np.float32), (512, 1)).astype(np.uint8)
    depth = np.stack([ramp] * 3, axis=2)
    assert not is_binary_map(depth) and colour_count(depth) == 200  # many colours
    for size in (64, 1024):
        expected = cv2.resize(depth, (size, size), interpolation=cv2.INTER_AREA if size < 512 else cv2.INTER_CUBIC)
        assert np.array_equal(resize_map(depth, size, size), expected)


def test_flat_colour_maps_gain_no_new_colours() -> None:
    seg = np.zeros((512, 512, 3), np.uint8)
    seg[:, :200] = (120, 120, 120)
    seg[100:400, 150:450] = (4, 200, 3)
    seg[250:, 300:] = (140, 60, 200)
    colours = {tuple(c) for c in seg.reshape(-1, 3)}
    small = fit_to_size(seg, 77, 61, ResizeMode.CROP_AND_RESIZE)
    assert {tuple(c) for c in small.reshape(-1, 3)} <= colours


@pytest.mark.parametrize("pair", [(20, 255), (0, 200)])
def test_two_colours_that_are_not_black_and_white_are_not_binary(pair: tuple[int, int]) -> None:
    image = np.full((64, 64, 3), pair[0], np.uint8)
    image[10:20] = pair[1]
    assert colour_count(image) == 2 and not is_binary_map(image)
