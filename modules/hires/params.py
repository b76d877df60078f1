"""The hires-fix parameters of a request (A1111's `hr_*` fields), checked, and the target size.

Checks happen before the job is queued (API 4xx, UI message): a scale outside 1..8, a target
above the size limit, an unknown upscaler, sampler or schedule type are refused by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modules.engine.validation import MAX_SIZE, InvalidRequestError, check_fields, request_lookup
from modules.upscalers.names import latent_mode

SAME_SAMPLER = ("", "Use same sampler")
SAME_SCHEDULER = ("", "Use same scheduler")
SAME_CHECKPOINT = ("", "Use same checkpoint")
LATENT_CELL = 8


@dataclass(frozen=True)
class HiresTarget:
    """The hires pass's size, and the size it is upscaled to before a centre crop (resize to W and H)."""

    width: int
    height: int
    cover_width: int
    cover_height: int


def _down8(value: float) -> int:
    return max(LATENT_CELL, int(value) // LATENT_CELL * LATENT_CELL)


def hires_target(req: Any) -> HiresTarget:
    """A1111's rules: scale by hr_scale; or resize to hr_resize_x/y (one of them 0: keep the aspect;
    both: cover the box, then crop its centre). Sizes go down to a multiple of 8."""
    w, h = req.width, req.height
    rx, ry = int(req.hr_resize_x or 0), int(req.hr_resize_y or 0)
    if rx == 0 and ry == 0:
        tw, th = _down8(w * req.hr_scale), _down8(h * req.hr_scale)
        return HiresTarget(tw, th, tw, th)
    if ry == 0:
        tw, th = _down8(rx), _down8(rx * h / w)
        return HiresTarget(tw, th, tw, th)
    if rx == 0:
        tw, th = _down8(ry * w / h), _down8(ry)
        return HiresTarget(tw, th, tw, th)
    if w / h < rx / ry:
        cover = (_down8(rx), _down8(rx * h / w))
    else:
        cover = (_down8(ry * w / h), _down8(ry))
    return HiresTarget(_down8(rx), _down8(ry), *cover)


def hires_steps(req: Any) -> int:
    """Steps of the hires pass: hr_second_pass_steps, 0 meaning the same as the first pass."""
    return int(req.hr_second_pass_steps) or int(req.steps)


def validate_hires(req: Any, upscalers: Any = None, samplers: Any = None) -> None:
    """InvalidRequestError naming the bad hires field and the fix; nothing when hires is off."""
    if not getattr(req, "enable_hr", False):
        return
    if req.mode != "txt2img":
        raise InvalidRequestError("hires fix (enable_hr) is for txt2img; img2img has its own resize")
    # hr_scale, hr_resize_x/y, hr_second_pass_steps, denoising_strength: the field table's rules
    check_fields(request_lookup(req), "txt2img", group="hires")
    target = hires_target(req)
    if max(target.cover_width, target.cover_height) > MAX_SIZE:
        raise InvalidRequestError(f"hires fix would make a {target.cover_width}x{target.cover_height} picture; "
                                  f"the limit is {MAX_SIZE} pixels a side: lower hr_scale or the size")
    if latent_mode(req.hr_upscaler) is None and upscalers is not None:
        from modules.upscalers.catalog import UnknownUpscalerError

        try:
            upscalers.resolve(req.hr_upscaler)
        except UnknownUpscalerError as err:
            raise InvalidRequestError(f"hr_upscaler: {err}; the latent modes are also allowed") from None
    if samplers is not None and (req.hr_sampler_name or "") not in SAME_SAMPLER:
        samplers.resolve(req.hr_sampler_name, req.hr_scheduler if (req.hr_scheduler or "") not in SAME_SCHEDULER
                         else None)
