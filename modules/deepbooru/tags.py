"""From a picture to DeepBooru's tag string, with A1111's settings.

`picture_tensor` prepares the input as the original model was trained (RGB in [0, 1], fitted into
512x512 with "Resize and fill"). `format_tags` turns per-tag probabilities into the prompt text:
tags at or above the score threshold, `rating:*` tags left out (they are not prompt words), sorted
by score or alphabetically, the filter list removed, underscores turned into spaces, brackets and
backslashes escaped so the prompt parser reads them literally, and optionally each tag with its
score as `(tag:0.987)`. It is pure so each setting is tested on its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from modules.deepbooru.network import INPUT_SIZE
from modules.engine.resize import RESIZE_AND_FILL, resize_image

RATING_PREFIX = "rating:"
_PROMPT_SPECIAL = re.compile(r"([\\()])")


@dataclass(frozen=True)
class TagOptions:
    """A1111's DeepBooru settings, by option key."""

    threshold: float = 0.5  # interrogate_deepbooru_score_threshold
    sort_alpha: bool = True  # deepbooru_sort_alpha
    use_spaces: bool = True  # deepbooru_use_spaces
    escape: bool = True  # deepbooru_escape
    filter_tags: str = ""  # deepbooru_filter_tags
    include_ranks: bool = False  # interrogate_return_ranks

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | Any) -> TagOptions:
        get = settings.get
        return cls(threshold=float(get("interrogate_deepbooru_score_threshold", 0.5)),
                   sort_alpha=bool(get("deepbooru_sort_alpha", True)),
                   use_spaces=bool(get("deepbooru_use_spaces", True)),
                   escape=bool(get("deepbooru_escape", True)),
                   filter_tags=str(get("deepbooru_filter_tags", "") or ""),
                   include_ranks=bool(get("interrogate_return_ranks", False)))


def picture_tensor(image: Image.Image) -> torch.Tensor:
    """(1, 3, 512, 512) float32 in [0, 1]: the picture fitted inside and its edges stretched outwards."""
    fitted = resize_image(RESIZE_AND_FILL, image.convert("RGB"), INPUT_SIZE, INPUT_SIZE)
    array = np.asarray(fitted, dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def _filtered(filter_tags: str) -> set[str]:
    """The filter list in the model's own spelling (underscores), so 'long hair' removes 'long_hair'."""
    return {t.strip().replace(" ", "_") for t in filter_tags.split(",") if t.strip()}


def _spelled(tag: str, score: float, options: TagOptions) -> str:
    if options.use_spaces:
        tag = tag.replace("_", " ")
    if options.escape:
        tag = _PROMPT_SPECIAL.sub(r"\\\1", tag)
    return f"({tag}:{score:.3f})" if options.include_ranks else tag


def format_tags(names: Sequence[str], scores: Sequence[float], options: TagOptions) -> str:
    """The comma-separated tags for one picture's probabilities (`scores[i]` belongs to `names[i]`)."""
    kept = {name: float(score) for name, score in zip(names, scores, strict=True)
            if score >= options.threshold and not name.startswith(RATING_PREFIX)}
    order = sorted(kept) if options.sort_alpha else sorted(kept, key=lambda n: -kept[n])
    dropped = _filtered(options.filter_tags)
    return ", ".join(_spelled(name, kept[name], options) for name in order if name not in dropped)
