"""Emphasis modes (A1111 setting `emphasis`): how `(word:1.3)` weights change the embedding.

- "Original": multiply each token's vector by its weight, then rescale the whole chunk batch
  so its mean equals the mean before weighting (A1111's classic behaviour).
- "No norm": multiply without rescaling (recommended for SDXL).
- "Ignore": parse the brackets but ignore the weights.
- "None": brackets are literal text; nothing is parsed (not even BREAK).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

EMPHASIS_MODES = ("Original", "No norm", "Ignore", "None")


def check_emphasis(mode: str) -> str:
    if mode not in EMPHASIS_MODES:
        raise ValueError(f"unknown emphasis mode {mode!r}; use one of {', '.join(EMPHASIS_MODES)}")
    return mode


def parses_attention(mode: str) -> bool:
    """Whether prompts are parsed for (x), [x], (x:w) and BREAK under this mode."""
    return check_emphasis(mode) != "None"


def apply_emphasis(z: torch.Tensor, multipliers: torch.Tensor, mode: str,
                   row_counts: torch.Tensor | None = None) -> torch.Tensor:
    """Weight the encoder output `z` (B, 77, C) by per-token `multipliers` (B, 77).

    The "Original" rescale uses the mean over the whole batch, because A1111 encodes all texts
    of one prompt's schedule as one batch. `row_counts` (B,) lets a caller that encoded each
    distinct text once still get that mean exactly, by counting each row as often as A1111
    would have had it in the batch.
    """
    check_emphasis(mode)
    if mode in ("Ignore", "None"):
        return z
    z = z.float()
    weighted = z * multipliers.to(z).unsqueeze(-1)
    if mode == "No norm":
        return weighted
    new_mean = _batch_mean(weighted, row_counts)
    if new_mean == 0:  # a degenerate (e.g. freshly initialised) encoder: nothing to restore
        return weighted
    return weighted * (_batch_mean(z, row_counts) / new_mean)


def _batch_mean(z: torch.Tensor, row_counts: torch.Tensor | None) -> torch.Tensor:
    if row_counts is None:
        return z.mean()
    counts = row_counts.to(z)
    per_row = z.mean(dim=(1, 2))
    return (per_row * counts).sum() / counts.sum()
