"""Per-pass plans: a job is one or more passes.

The first pass comes from the request; a feature's `plan()` may add more (hires fix adds a
second pass at a larger size, a refiner one with another model). A later pass starts from the
previous pass's result through its `source` (a latent upscale, or decode → upscale → encode),
is noised to its denoising strength and sampled over the tail of its schedule like img2img.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch
import torch.nn.functional as F

from modules.engine.request import GenerationRequest


@dataclass
class PassOutput:
    """What the previous pass left for the next one."""

    latents: torch.Tensor
    spec: "PassSpec"
    decode: Callable[[torch.Tensor], torch.Tensor]  # latents -> images in [-1, 1]
    encode: Callable[[torch.Tensor], torch.Tensor]  # images in [-1, 1] -> latents
    # save pictures of this batch (images in [-1, 1]) as samples with a file-name suffix and each
    # image's own infotext, through the job's saving path; returns the paths (None: not offered)
    save_intermediate: Callable[[torch.Tensor, str], list[str]] | None = None


PassSource = Callable[[PassOutput, "PassSpec"], torch.Tensor]


@dataclass(frozen=True)
class PassSpec:
    """One pass: size, steps, sampler, guidance, strength, and where its start latent comes from."""

    name: str
    width: int
    height: int
    steps: int
    sampler_name: str
    scheduler: str
    cfg_scale: float
    denoising_strength: float | None = None  # None: the mode decides (txt2img: from noise)
    prompt: str | None = None  # None: the job's prompt (after styles)
    negative_prompt: str | None = None
    checkpoint: str | None = None  # None: the job's selected model; else a registry title (ctx.checkpoints)
    source: PassSource | None = None
    infotext: Mapping[str, Any] = field(default_factory=dict)
    # A refiner: this pass continues the previous pass's sigma schedule from this fraction of it
    # (no source, no new noise); the previous pass stops there. By sigma (A1111's default: the
    # fraction of the 1000 training timesteps done) or, with `continue_by_steps`, of the steps.
    continues_at: float | None = None
    continue_by_steps: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "infotext", MappingProxyType(dict(self.infotext)))


def first_pass(req: GenerationRequest) -> PassSpec:
    """The pass every job has: the request's own size, steps and sampler."""
    return PassSpec("first", req.width, req.height, req.steps, req.sampler_name, req.scheduler, req.cfg_scale,
                    denoising_strength=req.denoising_strength if req.mode == "img2img" else None)


def latent_upscale(mode: str = "bilinear", antialias: bool = False) -> PassSource:
    """A source that stretches the previous latents to this pass's latent size (A1111's "Latent")."""

    def source(prev: PassOutput, spec: PassSpec) -> torch.Tensor:
        f = max(1, prev.spec.width // prev.latents.shape[-1])
        size = (spec.height // f, spec.width // f)
        return F.interpolate(prev.latents, size=size, mode=mode, antialias=antialias and mode != "nearest")

    return source


def image_upscale(upscale: Callable[[torch.Tensor, int, int], torch.Tensor]) -> PassSource:
    """A source that decodes, upscales the pictures with `upscale(images, width, height)` (an
    ESRGAN model, Lanczos, ...) and encodes them again."""

    def source(prev: PassOutput, spec: PassSpec) -> torch.Tensor:
        images = prev.decode(prev.latents)
        return prev.encode(upscale(images, spec.width, spec.height))

    return source
