"""What one Extras run asks for, with A1111's field names, and the checks that name bad input."""

from __future__ import annotations

from dataclasses import dataclass

MAX_SCALE = 8.0
MAX_SIDE = 8192


class ExtrasInputError(ValueError):
    """A bad Extras request; the message names the field and the fix."""


@dataclass(frozen=True)
class ExtrasParams:
    resize_mode: int = 0  # 0: scale by `upscaling_resize`; 1: to upscaling_resize_w x _h
    upscaling_resize: float = 2.0
    upscaling_resize_w: int = 512
    upscaling_resize_h: int = 512
    upscaling_crop: bool = True
    upscaler_1: str = "None"
    upscaler_2: str = "None"
    extras_upscaler_2_visibility: float = 0.0
    upscale_first: bool = False
    gfpgan_visibility: float = 0.0
    codeformer_visibility: float = 0.0
    codeformer_weight: float = 0.0

    def validate(self) -> None:
        if self.resize_mode not in (0, 1):
            raise ExtrasInputError(f"resize_mode must be 0 (scale by) or 1 (scale to), got {self.resize_mode}")
        if self.resize_mode == 0 and not 0 < self.upscaling_resize <= MAX_SCALE:
            raise ExtrasInputError(f"upscaling_resize must be above 0 and at most {MAX_SCALE:g}, "
                                   f"got {self.upscaling_resize:g}")
        if self.resize_mode == 1 and not (0 < self.upscaling_resize_w <= MAX_SIDE
                                          and 0 < self.upscaling_resize_h <= MAX_SIDE):
            raise ExtrasInputError(f"upscaling_resize_w and upscaling_resize_h must be 1..{MAX_SIDE}, got "
                                   f"{self.upscaling_resize_w}x{self.upscaling_resize_h}")
        if not 0 <= self.extras_upscaler_2_visibility <= 1:
            raise ExtrasInputError("extras_upscaler_2_visibility must be between 0 and 1, got "
                                   f"{self.extras_upscaler_2_visibility:g}")
        for name in ("gfpgan_visibility", "codeformer_visibility", "codeformer_weight"):
            if not 0 <= getattr(self, name) <= 1:
                raise ExtrasInputError(f"{name} must be between 0 and 1, got {getattr(self, name):g}")
