"""Payloads of the job hook points (version 1). Fields are read-only facts unless noted."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
    infotext: str
    index: int
    # save a picture of this image (e.g. before a hook changes it) as a sample with a file-name suffix
    # and this image's infotext, through the job's saving path; returns the path (None: job does not save)
    save_intermediate: Callable[[Any, str], str] | None = None


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
