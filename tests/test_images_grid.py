"""Grid layout: A1111's row choice, cell size, centring and background."""

import pytest
from PIL import Image

from modules.images.grid import grid_rows, image_grid


@pytest.mark.parametrize(("count", "rows"), [(1, 1), (2, 1), (3, 2), (4, 2), (5, 2), (6, 2), (8, 3), (9, 3)])
def test_default_rows_are_rounded_sqrt(count, rows):
    assert grid_rows(count) == rows


def test_row_settings():
    assert grid_rows(6, batch_size=3, n_rows=0) == 3
    assert grid_rows(6, n_rows=4) == 4 and grid_rows(3, n_rows=9) == 3
    assert grid_rows(8, prevent_empty_spots=True) == 2 and grid_rows(7, prevent_empty_spots=True) == 1


def test_grid_layout_and_pixels():
    colors = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    grid = image_grid([Image.new("RGB", (10, 6), c) for c in colors])
    assert grid.size == (20, 12) and grid.mode == "RGB"
    assert [grid.getpixel(p) for p in [(0, 0), (10, 0), (0, 6)]] == colors
    assert grid.getpixel((15, 9)) == (255, 255, 255)  # the empty spot shows the background


def test_smaller_images_are_centred_and_rows_override():
    big, small = Image.new("RGB", (10, 10), "black"), Image.new("RGB", (4, 4), "red")
    grid = image_grid([big, small], rows=2, background="#00ff00")
    assert grid.size == (10, 20)
    assert grid.getpixel((5, 15)) == (255, 0, 0) and grid.getpixel((1, 11)) == (0, 255, 0)


def test_empty_grid_is_an_error():
    with pytest.raises(ValueError, match="at least one image"):
        image_grid([])
