"""Seamless tiling: circular padding on every convolution, as a scoped patch.

A1111 switches Conv2d padding to "circular" for the whole model; we do the same inside a
context manager and restore the original modes afterwards, so the cached model stays clean.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def circular_padding(*modules: torch.nn.Module, enabled: bool = True) -> Iterator[None]:
    """Make every Conv2d in `modules` wrap around its edges while the block runs."""
    if not enabled:
        yield
        return
    saved: list[tuple[torch.nn.Conv2d, str]] = []
    for module in modules:
        for layer in module.modules():
            if isinstance(layer, torch.nn.Conv2d):
                saved.append((layer, layer.padding_mode))
                layer.padding_mode = "circular"
    try:
        yield
    finally:
        for layer, mode in saved:
            layer.padding_mode = mode
