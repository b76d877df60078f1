"""Contact-sheet grids of a batch, laid out as A1111 lays them out.

Row choice (setting `n_rows`): > 0 fixes the rows, 0 means one row per batch, -1 (default)
means `round(sqrt(n))` rows — or, with `grid_prevent_empty_spots`, the largest row count
<= floor(sqrt(n)) that divides n. Columns follow as ceil(n / rows). Cells are the size of the
largest image; smaller images are centred on the background colour.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from PIL import Image, ImageColor


def grid_rows(count: int, batch_size: int = 1, n_rows: int = -1, prevent_empty_spots: bool = False) -> int:
    """How many rows a grid of `count` images gets."""
    if n_rows > 0:
        rows = n_rows
    elif n_rows == 0:
        rows = batch_size
    elif prevent_empty_spots:
        rows = max(1, math.isqrt(count))
        while count % rows:
            rows -= 1
    else:
        rows = round(math.sqrt(count))
    return max(1, min(rows, count))


def image_grid(images: Sequence[Image.Image], batch_size: int = 1, rows: int | None = None, *,
               n_rows: int = -1, prevent_empty_spots: bool = False,
               background: str = "#ffffff") -> Image.Image:
    """One RGB image holding `images` in row-major order."""
    if not images:
        raise ValueError("image_grid needs at least one image")
    if rows is None:
        rows = grid_rows(len(images), batch_size, n_rows, prevent_empty_spots)
    rows = max(1, min(rows, len(images)))
    cols = math.ceil(len(images) / rows)
    cell_w = max(img.width for img in images)
    cell_h = max(img.height for img in images)
    grid = Image.new("RGB", (cols * cell_w, rows * cell_h), ImageColor.getcolor(background, "RGB"))
    for i, img in enumerate(images):
        x = (i % cols) * cell_w + (cell_w - img.width) // 2
        y = (i // cols) * cell_h + (cell_h - img.height) // 2
        grid.paste(img, (x, y))
    return grid
