"""k-diffusion's `sampling` module from the PyPI package, as a test-only reference.

Why load the file by hand: `import k_diffusion` runs the package's `__init__`, which imports
its training, evaluation and model code (clip, kornia, wandb, ...). The samplers only need
`k_diffusion/sampling.py` and `k_diffusion/utils.py`, so both are loaded under a private
package name whose `__path__` points at the installed package, without its `__init__`.

`with_noise(module, draws)` routes the module's `torch.randn_like` to a list of tensors, the
way A1111 routes it to the image RNG, so both implementations see identical noise.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import torch

PACKAGE = "_k_diffusion_reference"
VERSION = "0.1.1.post1"


def load_sampling() -> types.ModuleType:
    """k_diffusion.sampling of the installed k-diffusion (skips the test when it is missing)."""
    if f"{PACKAGE}.sampling" in sys.modules:
        return sys.modules[f"{PACKAGE}.sampling"]
    spec = importlib.util.find_spec("k_diffusion")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"k-diffusion=={VERSION} is not installed (requirements-test.txt)")
    package = types.ModuleType(PACKAGE)
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules[PACKAGE] = package
    return importlib.import_module(f"{PACKAGE}.sampling")


class _RoutedTorch:
    """Stands in for `torch` inside the reference module; only randn_like is redirected."""

    def __init__(self, draw: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self._draw = draw

    def randn_like(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self._draw(x)

    def __getattr__(self, name: str) -> Any:
        return getattr(torch, name)


@contextmanager
def routed_randn(module: types.ModuleType, draw: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[None]:
    """Temporarily make `module.torch.randn_like` call `draw` (A1111's TorchHijack, in test form)."""
    original = module.torch
    module.torch = _RoutedTorch(draw)
    try:
        yield
    finally:
        module.torch = original
