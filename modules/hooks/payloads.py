"""Payloads of the job hook points (version 1). Fields are read-only facts unless noted."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class BeforeJob:
    req: Any  # GenerationRequest


@dataclass
class AfterJob:
    req: Any
    result: Any  # GenerationResult


@dataclass
class AfterImage:
    req: Any
    image: Any  # PIL image; a hook may replace it
    infotext: str  # the picture's infotext before the hooks ran
    index: int
    # Entries a hook adds to this picture's infotext (A1111 keys; None drops a key); the infotext is
    # written again after the hooks, so what is saved and returned has them.
    infotext_entries: dict[str, Any] = field(default_factory=dict)
    # save a picture of this image (e.g. before a hook changes it) as a sample with a file-name suffix
    # and this image's infotext, through the job's saving path; returns the path (None: job does not save)
    save_intermediate: Callable[[Any, str], str] | None = None


@dataclass
class BeforeBatch:
    """Before a batch is encoded and sampled. A hook may change the lists (all the same length;
    empty skips the batch): the batch is generated, named and described with what they hold then.
    Prompts keep their extra-network tags (the batch uses the networks of its first prompt)."""

    req: Any
    batch_number: int
    prompts: list[str]
    negative_prompts: list[str]
    seeds: list[int]
    subseeds: list[int]
    hr_prompts: list[str] | None = None  # the hires pass's prompts (None: the job has no hires pass)
    hr_negative_prompts: list[str] | None = None


@dataclass
class BeforeSampling:
    """Before each sampler run of a batch (every pass). A hook may change `x` (the start latents)."""

    req: Any
    batch_number: int
    pass_index: int
    x: Any  # torch.Tensor (B, C, h, w), already noised/scaled for the first sigma
    noise: Any  # torch.Tensor: the batch's seeded noise at the latent size (txt2img: x / first sigma)
    cond: Any  # the conditioning of the prompts
    uncond: Any


@dataclass
class BeforePaste:
    """img2img with a mask: before the generated picture is pasted back over the original.
    A hook may replace `image`, `mask` (L, 0 keeps the original) and `original`; None for either
    keeps the generated picture unpasted."""

    req: Any
    index: int
    image: Any  # PIL, the generated picture
    mask: Any
    original: Any


@dataclass
class AfterBatch:
    """After a batch is decoded (before the mode's pasting-back, per-picture hooks and saving).
    `images` is (B, 3, H, W) float in [0, 1]; a hook may edit it or replace it with a tensor or a
    list of (3, H, W) tensors, also of another length (then it updates the lists below too)."""

    req: Any
    batch_number: int
    images: Any
    prompts: list[str]
    negative_prompts: list[str]
    seeds: list[int]
    subseeds: list[int]


@dataclass
class BeforeSave:
    image: Any
    infotext: str
    path: str


@dataclass
class AfterSave:
    image: Any
    infotext: str
    path: str  # the file written


@dataclass
class InfotextPaste:
    text: str
    params: dict[str, Any]  # the parsed fields; a hook may add or change entries


@dataclass
class ModelLoaded:
    title: str
    model: Any  # LoadedModel
