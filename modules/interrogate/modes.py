"""The five prompt modes (clip-interrogator-ext's) and Analyze, on a bound Interrogator.

- best: caption + the chain of terms that raises CLIP similarity most (slowest, closest match);
- fast: caption + the top-ranked terms of all lists;
- classic: caption, medium, artist, trending, movement and three flavors, in A1111's old format;
- negative: the terms least like the image (for a negative prompt); needs no caption model;
- caption: the caption model's sentence alone.

Analyze ranks the top five of each list (and the user's own labels) and turns CLIP similarities
into probabilities with a softmax at the model's logit scale, like zero-shot CLIP classification.
"""

from __future__ import annotations

from typing import Any

import torch
from PIL import Image

MODES: tuple[str, ...] = ("best", "fast", "classic", "negative", "caption")
NEEDS_CAPTION: frozenset[str] = frozenset({"best", "fast", "classic", "caption"})
ANALYZE_TABLES: dict[str, str] = {  # response key -> the package's table attribute
    "medium": "mediums",
    "artist": "artists",
    "movement": "movements",
    "trending": "trendings",
    "flavor": "flavors",
}
TOP_COUNT = 5


class UnknownModeError(ValueError):
    """A mode that does not exist; the message lists the modes."""


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise UnknownModeError(f"Unknown mode '{mode}'; use one of: {', '.join(MODES)}.")
    return mode


def run_mode(ci: Any, image: Image.Image, mode: str) -> str:
    """The prompt for `image` in `mode` (the caption model must be bound when the mode needs it)."""
    check_mode(mode)
    if mode == "caption":
        return ci.generate_caption(image)
    if mode == "negative":
        return ci.interrogate_negative(image)
    if mode == "fast":
        return ci.interrogate_fast(image)
    if mode == "classic":
        return ci.interrogate_classic(image)
    return ci.interrogate(image)


def _logit_scale(ci: Any) -> float:
    scale = getattr(ci.clip_model, "logit_scale", None)
    value = float(scale.exp().item()) if isinstance(scale, torch.Tensor) else 100.0
    return min(value, 100.0)


def _probabilities(similarities: list[float], scale: float) -> list[float]:
    return torch.softmax(torch.tensor(similarities) * scale, dim=0).tolist()


def _table_top(ci: Any, table: Any, features: torch.Tensor, scale: float) -> dict[str, float]:
    labels = table.rank(features, TOP_COUNT)
    index = {label: i for i, label in enumerate(table.labels)}
    embeds = torch.stack([torch.as_tensor(table.embeds[index[label]]).float() for label in labels])
    sims = (features.float().cpu() @ embeds.T)[0].tolist()
    return dict(zip(labels, _probabilities(sims, scale), strict=True))


def analyze(ci: Any, image: Image.Image, labels: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Top five of each term list with probabilities, plus `labels` ranked (best first) when given."""
    features = ci.image_to_features(image)
    scale = _logit_scale(ci)
    result = {key: _table_top(ci, getattr(ci, attr), features, scale) for key, attr in ANALYZE_TABLES.items()}
    wanted = [label.strip() for label in labels or [] if label.strip()]
    if wanted:
        probs = _probabilities(ci.similarities(features, wanted), scale)
        ranked = sorted(zip(wanted, probs, strict=True), key=lambda pair: -pair[1])
        result["labels"] = dict(ranked)
    return result
