"""A pass that names another checkpoint (a refiner, a hires checkpoint): how the engine gets it.

The engine never loads files; the Runtime gives each job a `PassModels` (`ctx.checkpoints`) that
resolves a user's checkpoint name to a `CheckpointRef` (4xx-worthy errors name the value and list
what is installed) and makes a checkpoint the model cache's current one for a pass. The job's
selected checkpoint stays in RAM for the whole job, and is current again when the job ends.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from modules.model_types import ModelFamily

SAME_CHECKPOINT = ("", "Use same checkpoint", "None", "none")


@dataclass(frozen=True)
class CheckpointRef:
    """A resolved checkpoint: what a PassSpec names (`title`) and what the infotext says."""

    title: str  # the registry title ("name.safetensors [0123456789]"): PassSpec.checkpoint
    short_title: str  # infotext: "name [0123456789]" (A1111's short title)
    family: ModelFamily | None = None  # None: not known before loading (a .ckpt)


class PassModels(Protocol):
    """The Runtime's side of switching models between passes (see modules/refiner/switcher.py)."""

    @property
    def selected(self) -> CheckpointRef: ...

    def resolve(self, name: str | None, field: str) -> CheckpointRef | None:
        """None for "same checkpoint" (empty, "Use same checkpoint", the selected one);
        raises InvalidRequestError naming `field`, the value and the installed checkpoints."""
        ...

    def activate(self, title: str | None) -> Any:
        """Make `title` (None: the selected checkpoint) the cache's current model; returns it."""
        ...

    def job_scope(self) -> AbstractContextManager[None]:
        """Around a job: the selected checkpoint stays in RAM; current again at the end."""
        ...


def latent_group(family: ModelFamily) -> str:
    """Checkpoints whose latents can be handed from one to another share a group."""
    return "SDXL" if family.is_sdxl else "SD 1.x/2.x"


def check_same_latents(selected: ModelFamily, other: ModelFamily, field: str, selected_name: str,
                       other_name: str) -> None:
    """A pass can only continue on latents of the same family (SD 1.x/2.x or SDXL)."""
    from modules.engine.validation import InvalidRequestError

    if latent_group(selected) != latent_group(other):
        raise InvalidRequestError(
            f"{field}: {other_name} is an {latent_group(other)} checkpoint ({other.value}) but the selected "
            f"checkpoint {selected_name} is {latent_group(selected)} ({selected.value}); their latents differ, "
            "so choose a checkpoint of the same family")

