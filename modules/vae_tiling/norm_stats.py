"""Share GroupNorm statistics across tiles, so tiles of one picture are normalised alike.

A VAE's GroupNorm layers normalise by the mean and variance of the whole feature map; a tile sees
only its own part, so tiles of a blue sky and of a red ball would each be normalised to their own
average and the colours would drift from tile to tile. Before the tiles run, the whole picture
runs once at low resolution (it fits in one tile) while every GroupNorm records its statistics;
the tiles then normalise with those recorded values instead of their own.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F


def _group_stats(norm: torch.nn.GroupNorm, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    grouped = x.float().reshape(x.shape[0], norm.num_groups, -1)
    return grouped.mean(-1), grouped.var(-1, unbiased=False)


def _normalise(norm: torch.nn.GroupNorm, x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    b, c = x.shape[:2]
    grouped = x.float().reshape(b, norm.num_groups, -1)
    out = ((grouped - mean[..., None]) * torch.rsqrt(var[..., None] + norm.eps)).reshape(x.shape)
    if norm.affine:
        shape = (1, c) + (1,) * (x.dim() - 2)
        out = out * norm.weight.float().reshape(shape) + norm.bias.float().reshape(shape)
    return out.to(x.dtype)


@contextmanager
def shared_group_norm(module: torch.nn.Module) -> Iterator[dict[str, Any]]:
    """Patch every GroupNorm in `module`: while `state["mode"] == "record"` it records its statistics,
    while "apply" it uses the recorded ones (a layer that recorded nothing normalises as usual)."""
    state: dict[str, Any] = {"mode": "record", "stats": {}}
    norms = [m for m in module.modules() if isinstance(m, torch.nn.GroupNorm)]

    def forward(self: torch.nn.GroupNorm, x: torch.Tensor) -> torch.Tensor:
        stats = state["stats"]
        if state["mode"] == "record":
            stats[id(self)] = _group_stats(self, x)
        elif id(self) in stats and stats[id(self)][0].shape[0] == x.shape[0]:
            return _normalise(self, x, *stats[id(self)])
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    for norm in norms:
        norm.forward = types.MethodType(forward, norm)
    try:
        yield state
    finally:
        for norm in norms:
            del norm.forward
