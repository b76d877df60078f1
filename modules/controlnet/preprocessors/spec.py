"""What a preprocessor is: a function on an RGB uint8 image plus the sliders the extension shows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Slider:
    """One threshold slider (the extension's `module_detail` slider JSON)."""

    name: str
    value: float
    min: float
    max: float
    step: float = 1.0

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "min": self.min, "max": self.max, "step": self.step}


RESOLUTION = Slider("Resolution", 512, 64, 2048, 8)


@dataclass(frozen=True)
class ProcessorCall:
    """The resolved inputs of one run (defaults filled in for -1 values)."""

    resolution: int
    threshold_a: float
    threshold_b: float
    seed: int = 0
    mask: np.ndarray | None = None  # (H, W) uint8, 255 = masked, when the unit has one


@dataclass(frozen=True)
class Detected:
    """What a preprocessor that finds more than a map returns: the map and the OpenPose keypoint
    JSON (`/controlnet/detect` answers it as `poses`)."""

    image: np.ndarray
    pose: dict[str, Any] | None = None


Run = Callable[[np.ndarray, ProcessorCall], "np.ndarray | Detected"]


@dataclass(frozen=True)
class Preprocessor:
    """A named preprocessor. `uses_resolution`: the input is first resized so its short side is
    the processor resolution (the extension's behaviour); `threshold_a/b` are None without a slider."""

    name: str
    run: Run
    tags: tuple[str, ...] = ()
    alias: str | None = None
    uses_resolution: bool = True
    threshold_a: Slider | None = None
    threshold_b: Slider | None = None
    annotator_files: tuple[str, ...] = field(default_factory=tuple)
    resolution: Slider = RESOLUTION  # a few (softedge_anyline) default to another resolution

    @property
    def model_free(self) -> bool:
        return not self.annotator_files

    @property
    def display_name(self) -> str:
        return self.alias or self.name

    def sliders(self) -> list[dict[str, Any]]:
        out = [self.resolution.as_json()] if self.uses_resolution else []
        out += [s.as_json() for s in (self.threshold_a, self.threshold_b) if s is not None]
        return out

    def resolve(self, processor_res: int, threshold_a: float, threshold_b: float, seed: int = 0,
                mask: np.ndarray | None = None) -> ProcessorCall:
        """-1 (or an absent slider) means the slider's default."""
        res = int(processor_res) if processor_res and processor_res > 0 else int(self.resolution.value)
        a = threshold_a if self.threshold_a is not None and threshold_a >= 0 else (
            self.threshold_a.value if self.threshold_a else -1)
        b = threshold_b if self.threshold_b is not None and threshold_b >= 0 else (
            self.threshold_b.value if self.threshold_b else -1)
        return ProcessorCall(res, float(a), float(b), seed, mask)
