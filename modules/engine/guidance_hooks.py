"""Typed hooks around classifier-free guidance and after each sampler step.

Pre-CFG hooks may edit the payload (latents, conditioning, CFG scale) before the UNet calls;
post-CFG hooks may replace the guided result; step hooks observe each finished step. They come
from job features (modules/engine/features.py) and from the extension hook host.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class PreCFG:
    step: int
    sigma: torch.Tensor
    x: torch.Tensor
    cond: Any  # CondBatch of all AND sub-prompts
    uncond: Any  # CondBatch
    cfg_scale: float
    pass_index: int = 0


@dataclass
class PostCFG:
    step: int
    sigma: torch.Tensor
    x: torch.Tensor
    denoised: torch.Tensor
    denoised_uncond: torch.Tensor
    pass_index: int = 0


@dataclass
class StepInfo:
    step: int  # 1-based: steps finished in this pass
    total_steps: int
    pass_index: int
    sigma: torch.Tensor
    x: torch.Tensor
    denoised: torch.Tensor


PreCFGHook = Callable[[PreCFG], None]
PostCFGHook = Callable[[PostCFG], None]
StepHook = Callable[[StepInfo], None]
