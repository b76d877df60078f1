"""The UNet wrapper that runs each active ControlNet and adds its residuals to the UNet call.

Per call and unit: the unit is active only while `guidance_start <= step/total <= guidance_end`
(the extension's rule); its residuals are scaled by the weight and the control mode:
- Balanced: every residual times the weight, for the prompt and the negative prompt rows;
- My prompt is more important: "soft injection", residual i of n times weight * 0.825^(n-1-i),
  so shallow (detail) layers are guided less than deep (layout) ones;
- ControlNet is more important: soft injection applied to the prompt rows only, so classifier-free
  guidance pushes towards the control (the negative-prompt rows get none).
Several units add up; residuals already on the call (another feature's) are kept.
A unit's effective region mask multiplies each of its residuals (resized to the residual), and a
Low VRAM unit's model is borrowed onto the device for each of its calls only (`placement`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch

from modules.controlnet.unit import ControlMode
from modules.controlnet.unit_masks import apply_region_mask

SOFT_INJECTION_BASE = 0.825


@dataclass
class ActiveUnit:
    """One enabled unit ready to run in a pass."""

    index: int
    net: Callable[[], Any]  # returns the ControlNetModel (already placed by the model cache)
    hints: torch.Tensor  # (n_images, 3, H, W) in [0, 1]; one row per picture of the batch (or one for all)
    weight: float
    guidance_start: float
    guidance_end: float
    control_mode: ControlMode
    global_pooling: bool = False
    region_mask: torch.Tensor | None = None  # (1, 1, h, w) in [0, 1]: the effective region mask
    placement: Callable[[], AbstractContextManager[Any]] | None = None  # Low VRAM: on the device per call

    def model_scope(self) -> AbstractContextManager[Any]:
        """The model for one call: borrowed onto the device (Low VRAM), else already placed."""
        return self.placement() if self.placement is not None else nullcontext(self.net())

    def active_at(self, step: int, total: int) -> bool:
        progress = step / float(max(1, total))
        return self.weight > 0 and self.guidance_start <= progress <= self.guidance_end


def layer_scales(n: int, weight: float, mode: ControlMode) -> list[float]:
    if mode is ControlMode.BALANCED:
        return [weight] * n
    return [weight * SOFT_INJECTION_BASE ** float(n - 1 - i) for i in range(n)]


def _add(existing: Any, new: Any) -> Any:
    if existing is None:
        return new
    if isinstance(existing, (tuple, list)):
        return tuple(a + b for a, b in zip(existing, new, strict=True))
    return existing + new


class ControlNetWrapper:
    """A UNetWrapper (see modules/engine/unet_call.py) for the active units of one pass."""

    name = "ControlNet"

    def __init__(self, units: Sequence[ActiveUnit], latent_channels: int = 4) -> None:
        self.units = list(units)
        self.latent_channels = latent_channels

    def __call__(self, call: Any, call_next: Callable[[Any], torch.Tensor]) -> torch.Tensor:
        for unit in self.units:
            if not unit.active_at(call.step, call.total_steps):
                continue
            down, mid = self._residuals(unit, call)
            call.down_block_additional_residuals = _add(call.down_block_additional_residuals, down)
            call.mid_block_additional_residual = _add(call.mid_block_additional_residual, mid)
        return call_next(call)

    def _residuals(self, unit: ActiveUnit, call: Any) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        with unit.model_scope() as net:
            return self._run(net, unit, call)

    def _run(self, net: Any, unit: ActiveUnit, call: Any) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        param = next(net.parameters())
        rows = call.image_index.clamp(max=unit.hints.shape[0] - 1).to(unit.hints.device)
        hint = unit.hints[rows].to(param.device, param.dtype)
        x = call.x[:, : self.latent_channels].to(param.dtype)
        added = call.added_cond_kwargs
        if added is not None:
            added = {k: v.to(param.dtype) for k, v in added.items()}
        down, mid = net(x, call.timestep, encoder_hidden_states=call.encoder_hidden_states.to(param.dtype),
                        controlnet_cond=hint, added_cond_kwargs=added, return_dict=False)
        outs = [*down, mid]
        scales = layer_scales(len(outs), unit.weight, unit.control_mode)
        keep = None
        if unit.control_mode is ControlMode.CONTROL:
            keep = (~call.is_uncond).to(param.device, param.dtype).reshape(-1, 1, 1, 1)
        scaled = []
        for out, scale in zip(outs, scales, strict=True):
            out = apply_region_mask(out * scale, unit.region_mask)
            if unit.global_pooling:
                out = out.mean(dim=(2, 3), keepdim=True)
            if keep is not None:
                out = out * keep
            scaled.append(out.to(call.x.dtype))
        return tuple(scaled[:-1]), scaled[-1]
