"""SDXL micro-conditioning: the size/crop (base) or aesthetic-score (refiner) time ids."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from modules.models.sd_model import LoadedModel, ModelFamily

REFINER_HIGH_AESTHETIC = 6.0
REFINER_LOW_AESTHETIC = 2.5


def sdxl_time_ids(model: LoadedModel, width: int, height: int, batch: int,
                  settings: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """(cond, uncond) time ids: original size = target size = the image size, as A1111 does."""
    top, left = int(settings.get("sdxl_crop_top", 0)), int(settings.get("sdxl_crop_left", 0))
    if model.family == ModelFamily.SDXL_REFINER:
        cond = [height, width, top, left, REFINER_HIGH_AESTHETIC]
        uncond = [height, width, top, left, REFINER_LOW_AESTHETIC]
    else:
        cond = uncond = [height, width, top, left, height, width]
    as_t = lambda v: torch.tensor([v], dtype=torch.float32).repeat(batch, 1)  # noqa: E731
    return as_t(cond), as_t(uncond)
