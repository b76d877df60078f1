"""Cut a picture into evenly spaced, overlapping tiles and put redrawn tiles back with soft seams.

Tiles are exactly the generation size; along each axis they are spread evenly so the first
starts at 0 and the last ends at the edge, overlapping by at least `overlap` pixels (more when
the spacing rounds). Joining cross-fades each overlap linearly, so no tile edge shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class TileGrid:
    width: int
    height: int
    tile_w: int
    tile_h: int
    xs: tuple[int, ...]
    ys: tuple[int, ...]

    @property
    def boxes(self) -> list[tuple[int, int, int, int]]:
        return [(x, y, x + self.tile_w, y + self.tile_h) for y in self.ys for x in self.xs]


def _starts(length: int, tile: int, overlap: int) -> tuple[int, ...]:
    if length <= tile:
        return (0,)
    count = math.ceil((length - overlap) / max(1, tile - overlap))
    count = max(2, count)
    step = (length - tile) / (count - 1)
    return tuple(round(i * step) for i in range(count))


def plan_grid(width: int, height: int, tile_w: int, tile_h: int, overlap: int) -> TileGrid:
    """Tiles of tile_w x tile_h covering a width x height picture (smaller pictures are padded)."""
    return TileGrid(width, height, tile_w, tile_h, _starts(width, tile_w, overlap), _starts(height, tile_h, overlap))


def split(image: Image.Image, grid: TileGrid) -> list[Image.Image]:
    return [image.crop(box) for box in grid.boxes]


def _ramp(length: int, starts: tuple[int, ...], index: int, tile: int) -> np.ndarray:
    """1-D weights of tile `index`: rising across the overlap with the previous tile, falling into the next."""
    w = np.ones(tile, dtype=np.float32)
    start = starts[index]
    if index > 0:
        over = starts[index - 1] + tile - start
        if over > 0:
            w[:over] = np.minimum(w[:over], (np.arange(over) + 0.5) / over)
    if index < len(starts) - 1:
        over = start + tile - starts[index + 1]
        if over > 0:
            w[tile - over:] = np.minimum(w[tile - over:], ((np.arange(over) + 0.5) / over)[::-1])
    return w


def combine(tiles: list[Image.Image], grid: TileGrid) -> Image.Image:
    """The picture from its redrawn tiles (in `grid.boxes` order), overlaps cross-faded."""
    acc = np.zeros((max(grid.height, grid.tile_h), max(grid.width, grid.tile_w), 3), dtype=np.float32)
    total = np.zeros(acc.shape[:2], dtype=np.float32)
    boxes = grid.boxes
    for n, tile in enumerate(tiles):
        iy, ix = divmod(n, len(grid.xs))
        x0, y0, x1, y1 = boxes[n]
        weight = _ramp(grid.height, grid.ys, iy, grid.tile_h)[:, None] * _ramp(grid.width, grid.xs, ix,
                                                                                 grid.tile_w)[None, :]
        acc[y0:y1, x0:x1] += np.asarray(tile.convert("RGB"), dtype=np.float32) * weight[..., None]
        total[y0:y1, x0:x1] += weight
    out = acc / np.maximum(total, 1e-6)[..., None]
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8)[:grid.height, :grid.width], "RGB")
