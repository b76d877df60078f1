"""The UNet call as data, and the wrapper chain around it.

Every feature that works inside the denoiser — ControlNet residuals, a compiled runner,
extensions — is a `UNetWrapper`: it gets the call and `call_next`, and may change the inputs,
add down/mid residuals (adding to ones already there, so several ControlNets stack) or T2I-Adapter
features inside the down blocks (`down_intrablock_additional_residuals`), replace
the call, or post-process its output. The last link calls the UNet itself. A wrapper that raises
fails the job with a `FeatureError` that names it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch


class FeatureError(RuntimeError):
    """A feature (contributor, UNet wrapper) failed; the message starts with its name."""

    def __init__(self, name: str, err: BaseException) -> None:
        super().__init__(f"{name}: {err}")
        self.feature = name


def feature_failure(name: str, err: Exception) -> Exception:
    """What a feature's exception becomes: bad input stays bad input (a 4xx, named), interrupt
    and skip pass through, anything else is a FeatureError naming the feature."""
    from modules.engine.control import ImageSkipped, JobInterrupted
    from modules.engine.validation import InvalidRequestError

    if isinstance(err, FeatureError | JobInterrupted | ImageSkipped):
        return err
    if isinstance(err, InvalidRequestError):
        return InvalidRequestError(f"{name}: {err}")
    return FeatureError(name, err)


@dataclass
class UNetCall:
    """One UNet evaluation: the inputs, plus where in the job it happens."""

    x: torch.Tensor  # the scaled model input (B, C, h, w), inpainting channels included
    timestep: torch.Tensor  # (B,)
    sigma: torch.Tensor  # (B,)
    encoder_hidden_states: torch.Tensor
    added_cond_kwargs: dict[str, torch.Tensor] | None
    is_uncond: torch.Tensor  # (B,) bool: rows that carry the negative prompt
    image_index: torch.Tensor  # (B,) long: which picture of the batch a row belongs to
    step: int  # sampler step within the pass, 0-based
    total_steps: int
    pass_index: int = 0
    down_block_additional_residuals: tuple[torch.Tensor, ...] | None = None
    mid_block_additional_residual: torch.Tensor | None = None
    # T2I-Adapter features, one per down block, added inside the blocks (diffusers' argument of that name)
    down_intrablock_additional_residuals: tuple[torch.Tensor, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


CallNext = Callable[[UNetCall], torch.Tensor]


class UNetWrapper(Protocol):
    name: str

    def __call__(self, call: UNetCall, call_next: CallNext) -> torch.Tensor: ...


def run_unet(unet: Any, call: UNetCall) -> torch.Tensor:
    """The chain's last link: the diffusers UNet with the call's inputs (and residuals, if any)."""
    kwargs: dict[str, Any] = {}
    if call.down_block_additional_residuals is not None:
        kwargs["down_block_additional_residuals"] = call.down_block_additional_residuals
    if call.mid_block_additional_residual is not None:
        kwargs["mid_block_additional_residual"] = call.mid_block_additional_residual
    if call.down_intrablock_additional_residuals is not None:  # a list: the UNet pops from it
        kwargs["down_intrablock_additional_residuals"] = list(call.down_intrablock_additional_residuals)
    return unet(call.x, call.timestep, encoder_hidden_states=call.encoder_hidden_states,
                added_cond_kwargs=call.added_cond_kwargs, return_dict=False, **kwargs)[0]


def build_chain(wrappers: Sequence[UNetWrapper], last: CallNext) -> CallNext:
    """Compose wrappers, outermost first, around `last`."""
    chain = last
    for wrapper in reversed(list(wrappers)):
        chain = _link(wrapper, chain)
    return chain


def _link(wrapper: UNetWrapper, call_next: CallNext) -> CallNext:
    name = getattr(wrapper, "name", type(wrapper).__name__)

    def call(c: UNetCall) -> torch.Tensor:
        try:
            return wrapper(c, call_next)
        except Exception as err:  # named so the user knows which feature broke the job
            failure = feature_failure(name, err)
            if failure is err:
                raise
            raise failure from err

    return call
