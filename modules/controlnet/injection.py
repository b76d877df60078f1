"""The UNet wrapper that runs each active ControlNet and adds its residuals to the UNet call.

Per call and unit: the unit is active only while `guidance_start <= step/total <= guidance_end`
(the extension's rule); its residuals are scaled by the weight and the control mode:
- Balanced: every residual times the weight, for the prompt and the negative prompt rows;
- My prompt is more important: "soft injection", residual i of n times weight * 0.825^(n-1-i),
  so shallow (detail) layers are guided less than deep (layout) ones;
- ControlNet is more important: soft injection applied to the prompt rows only, so classifier-free
  guidance pushes towards the control (the negative-prompt rows get none).
Several units add up; residuals already on the call (another feature's) are kept.
A T2I-Adapter unit computes its features once per pass from the control map (they do not depend on
the latent or the step) and adds them, scaled the same way, to the call's
`down_intrablock_additional_residuals`; its soft-injection scales are the extension's adapter ones
(0.25, 0.62, 0.825, 1.0 from shallow to deep; an adapter with fewer levels takes the deepest ones).
A unit's effective region mask multiplies each of its residuals (resized to the residual), and a
Low VRAM unit's model is borrowed onto the device for each of its calls only (`placement`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch

from modules.controlnet.unit import ControlMode
from modules.controlnet.unit_masks import apply_region_mask

SOFT_INJECTION_BASE = 0.825
ADAPTER_SOFT_SCALES = (0.25, 0.62, 0.825, 1.0)


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
    is_adapter: bool = False  # a T2I-Adapter: features from the hints alone, once per pass
    adapter_features: tuple[torch.Tensor, ...] | None = field(default=None, repr=False)  # computed lazily

    def model_scope(self) -> AbstractContextManager[Any]:
        """The model for one call: borrowed onto the device (Low VRAM), else already placed."""
        return self.placement() if self.placement is not None else nullcontext(self.net())

    def active_at(self, step: int, total: int) -> bool:
        progress = step / float(max(1, total))
        return self.weight > 0 and self.guidance_start <= progress <= self.guidance_end


def layer_scales(n: int, weight: float, mode: ControlMode, adapter: bool = False) -> list[float]:
    if mode is ControlMode.BALANCED:
        return [weight] * n
    if adapter:
        table = (ADAPTER_SOFT_SCALES[0],) * max(0, n - len(ADAPTER_SOFT_SCALES)) + ADAPTER_SOFT_SCALES
        return [weight * s for s in table[len(table) - n:]]
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
            if unit.is_adapter:
                features = self._adapter_residuals(unit, call)
                call.down_intrablock_additional_residuals = _add(call.down_intrablock_additional_residuals, features)
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
        scaled = _scale(unit, [*down, mid], call)
        return scaled[:-1], scaled[-1]

    def _adapter_residuals(self, unit: ActiveUnit, call: Any) -> tuple[torch.Tensor, ...]:
        if unit.adapter_features is None:
            with unit.model_scope() as adapter:
                unit.adapter_features = adapter_features(adapter, unit.hints)
        rows = call.image_index.clamp(max=unit.hints.shape[0] - 1)
        return _scale(unit, [f[rows.to(f.device)].to(call.x.device) for f in unit.adapter_features], call)


def adapter_features(adapter: Any, hints: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """An adapter's features for every picture's hint; a one-channel adapter (sketch, canny) takes
    the map's first channel, as the extension feeds it. A size that is not a whole number of the
    adapter's pixel cells is stretched to the next one, so the feature sizes round up as the UNet's
    strided downsampling does."""
    param = next(adapter.parameters())
    hint = hints.to(param.device, param.dtype)
    if int(adapter.config.in_channels) == 1:
        hint = hint[:, :1]
    cell = int(adapter.config.downscale_factor)
    height, width = hint.shape[-2:]
    if height % cell or width % cell:
        size = (-(-height // cell) * cell, -(-width // cell) * cell)
        hint = torch.nn.functional.interpolate(hint, size=size, mode="bilinear", align_corners=False)
    with torch.no_grad():
        return tuple(adapter(hint))


def _scale(unit: ActiveUnit, outs: Sequence[torch.Tensor], call: Any) -> tuple[torch.Tensor, ...]:
    """Weight and control mode (layer scales, prompt rows only for "ControlNet is more important"),
    the region mask and global pooling, applied to a unit's residuals for one call."""
    scales = layer_scales(len(outs), unit.weight, unit.control_mode, unit.is_adapter)
    keep = None
    if unit.control_mode is ControlMode.CONTROL:
        keep = (~call.is_uncond).to(outs[0].device, outs[0].dtype).reshape(-1, 1, 1, 1)
    scaled = []
    for out, scale in zip(outs, scales, strict=True):
        out = apply_region_mask(out * scale, unit.region_mask)
        if unit.global_pooling:
            out = out.mean(dim=(2, 3), keepdim=True)
        if keep is not None:
            out = out * keep
        scaled.append(out.to(call.x.dtype))
    return tuple(scaled)
