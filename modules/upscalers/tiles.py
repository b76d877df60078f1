"""Run an image model over overlapping tiles and blend the seams away.

A 4x model on a 2048x2048 image would need activations for the whole picture at once; in tiles of
`tile` pixels the largest activation is that of one tile, whatever the image size. Tiles overlap
by `overlap` pixels; inside an overlap each tile's weight ramps linearly from 0 to 1, so neighbours
cross-fade instead of meeting at a hard edge. Because the tiles form a full grid, the sum of the
weights is the product of two 1-D sums, so normalising needs no full-size weight image.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

TileFn = Callable[[torch.Tensor], torch.Tensor]
OnTile = Callable[[int, int], None]  # (tiles done, tiles total)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets covering `length` with tiles of `tile` that overlap by at least `overlap`."""
    if tile >= length:
        return [0]
    stride = max(1, tile - overlap)
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def _ramp(size: int, ramp: int, fade_in: bool, fade_out: bool) -> torch.Tensor:
    """1-D blend weights for one tile: linear ramps over `ramp` samples on the sides that have a neighbour."""
    w = torch.ones(size, dtype=torch.float32)
    if ramp <= 0:
        return w
    edge = (torch.arange(min(ramp, size), dtype=torch.float32) + 0.5) / ramp
    if fade_in:
        w[: edge.numel()] = torch.minimum(w[: edge.numel()], edge)
    if fade_out:
        w[size - edge.numel():] = torch.minimum(w[size - edge.numel():], edge.flip(0))
    return w


def _axis_weights(starts: list[int], tile: int, scale: int, overlap: int, out_len: int) -> tuple[
        list[torch.Tensor], torch.Tensor]:
    """Per-tile weights along one axis, and their sum over the whole axis (for normalising)."""
    weights, total = [], torch.zeros(out_len, dtype=torch.float32)
    for i, s in enumerate(starts):
        w = _ramp(tile * scale, overlap * scale, i > 0, i < len(starts) - 1)
        weights.append(w)
        total[s * scale:(s + tile) * scale] += w
    return weights, total


def run_tiled(fn: TileFn, image: torch.Tensor, scale: int, tile: int, overlap: int,
              on_tile: OnTile | None = None, cell: int = 1) -> torch.Tensor:
    """`fn` applied to `image` (BxCxHxW) in overlapping tiles; returns BxC'x(H*scale/cell)x(W*scale/cell).

    Tiles are laid on a grid of `cell`-pixel cells (1 for upscalers; 8 for a VAE encoder, whose
    output has one latent per 8x8 pixels): `tile` and `overlap` count cells, and each cell becomes
    `scale` output pixels. `tile <= 0` or an image no bigger than one tile runs in one piece. `fn`
    may run on any device; its outputs are gathered on the CPU in float32.
    """
    b, _, h, w = image.shape
    h, w = h // cell, w // cell
    if tile <= 0 or (h <= tile and w <= tile):
        out = fn(image).float().cpu()
        if on_tile:
            on_tile(1, 1)
        return out
    th, tw = min(tile, h), min(tile, w)
    overlap = max(0, min(overlap, th // 2, tw // 2))
    ys, xs = tile_starts(h, th, overlap), tile_starts(w, tw, overlap)
    wy, sum_y = _axis_weights(ys, th, scale, overlap, h * scale)
    wx, sum_x = _axis_weights(xs, tw, scale, overlap, w * scale)
    out: torch.Tensor | None = None
    done, total = 0, len(ys) * len(xs)
    for iy, y in enumerate(ys):
        for ix, x in enumerate(xs):
            piece = fn(image[:, :, y * cell:(y + th) * cell, x * cell:(x + tw) * cell]).float().cpu()
            if out is None:
                out = torch.zeros((b, piece.shape[1], h * scale, w * scale), dtype=torch.float32)
            weight = wy[iy][:, None] * wx[ix][None, :]
            out[:, :, y * scale:(y + th) * scale, x * scale:(x + tw) * scale] += piece * weight
            del piece
            done += 1
            if on_tile:
                on_tile(done, total)
    assert out is not None
    out /= sum_y[:, None] * sum_x[None, :]
    return out
