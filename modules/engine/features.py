"""Job features: the one place a feature registers to take part in every job.

A feature (LoRA, ControlNet, hires fix, an extension) reads its own request fields and returns a
`Contribution` per pass: patch sets, UNet wrappers, CFG/step hooks, models to place beside the
UNet, infotext entries and comments. It may also add passes (`plan`). The engine merges the
contributions in registration order; nothing in modules/engine needs editing for a new feature.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol

import torch

from modules.engine.guidance_hooks import PostCFGHook, PreCFGHook, StepHook
from modules.engine.passes import PassSpec
from modules.engine.request import GenerationRequest
from modules.engine.unet_call import UNetWrapper, feature_failure
from modules.models.patches import PatchSet
from modules.models.sd_model import LoadedModel


@dataclass(frozen=True)
class FeatureSetup:
    """What a feature may read, once per job."""

    req: GenerationRequest
    prompt: str  # after styles, with extra-network tags
    negative_prompt: str
    extra_networks: Mapping[str, list[Any]]  # parsed <type:...> tags by type (ExtraNetworkParams)
    settings: Any  # SettingsView
    models: Any  # ModelCache or None
    model: LoadedModel
    device: torch.device
    checkpoints: Any = None  # PassModels (engine/pass_models.py): resolves another checkpoint's name


@dataclass(frozen=True)
class PassContext:
    index: int
    spec: PassSpec
    model: LoadedModel


@dataclass
class Contribution:
    patches: list[PatchSet] = field(default_factory=list)
    unet_wrappers: list[UNetWrapper] = field(default_factory=list)
    pre_cfg: list[PreCFGHook] = field(default_factory=list)
    post_cfg: list[PostCFGHook] = field(default_factory=list)
    on_step: list[StepHook] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    infotext: dict[str, Any] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)
    handled_networks: set[str] = field(default_factory=set)
    embeddings: Any = None  # EmbeddingLookup for the text encoder

    def merge(self, other: "Contribution") -> None:
        self.patches += other.patches
        self.unet_wrappers += other.unet_wrappers
        self.pre_cfg += other.pre_cfg
        self.post_cfg += other.post_cfg
        self.on_step += other.on_step
        self.models += [m for m in other.models if m not in self.models]
        self.infotext.update(other.infotext)
        self.comments += other.comments
        self.handled_networks |= other.handled_networks
        self.embeddings = other.embeddings if other.embeddings is not None else self.embeddings


class JobFeature(Protocol):
    name: str

    def contribute(self, setup: FeatureSetup, pass_: PassContext) -> Contribution | None: ...


def feature_name(feature: Any) -> str:
    return str(getattr(feature, "name", type(feature).__name__))


def _reraise(feature: Any, err: Exception) -> NoReturn:
    failure = feature_failure(feature_name(feature), err)
    if failure is err:
        raise err
    raise failure from err


def plan_passes(features: tuple[Any, ...], setup: FeatureSetup, passes: list[PassSpec]) -> list[PassSpec]:
    """Let each feature that plans (has `plan`) extend the list of passes."""
    for feature in features:
        plan = getattr(feature, "plan", None)
        if plan is None:
            continue
        try:
            passes = list(plan(setup, passes))
        except Exception as err:
            _reraise(feature, err)
    return passes


def collect(features: tuple[Any, ...], setup: FeatureSetup, pass_: PassContext) -> Contribution:
    """All features' contributions for one pass, merged in registration order."""
    total = Contribution()
    for feature in features:
        try:
            part = feature.contribute(setup, pass_)
        except Exception as err:
            _reraise(feature, err)
        if part is not None:
            total.merge(part)
    return total


class FeatureRegistry:
    """The Runtime's list of job features (built-in ones at start-up, extensions later)."""

    def __init__(self) -> None:
        self._features: list[Any] = []

    def register(self, feature: Any) -> None:
        name = feature_name(feature)
        if any(feature_name(f) == name for f in self._features):
            raise ValueError(f"a job feature named {name!r} is already registered")
        self._features.append(feature)

    def all(self) -> tuple[Any, ...]:
        return tuple(self._features)
