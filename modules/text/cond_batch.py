"""`CondBatch`: text conditioning as the UNet consumes it (cross-attention tokens + pooled vector).

Why one small type: SD1/SD2 need only the cross-attention tensor, SDXL also needs the pooled
text embedding; carrying both together keeps prompt editing, AND-composition and cond/uncond
padding free of `if sdxl` branches. It lives apart from the encoder so that the pure prompt
parser can build batches without importing model code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

CHUNK_TOKENS = 77


@dataclass
class CondBatch:
    """`crossattn` is (B, T, C) with T a multiple of 77; `pooled` is (B, P) or None (SD1/SD2)."""

    crossattn: torch.Tensor
    pooled: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.crossattn.dim() != 3:
            raise ValueError("CondBatch.crossattn must be (batch, tokens, channels), "
                             f"got {tuple(self.crossattn.shape)}")
        if self.pooled is not None and self.pooled.shape[0] != self.crossattn.shape[0]:
            raise ValueError(f"CondBatch.pooled has {self.pooled.shape[0]} rows but crossattn has "
                             f"{self.crossattn.shape[0]}")

    def __len__(self) -> int:
        return int(self.crossattn.shape[0])

    @property
    def shape(self) -> torch.Size:
        return self.crossattn.shape

    @property
    def tokens(self) -> int:
        return int(self.crossattn.shape[1])

    def __getitem__(self, index: int | slice | Sequence[int] | torch.Tensor) -> "CondBatch":
        """Rows of the batch; an int keeps the batch axis (a one-row CondBatch)."""
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        pooled = self.pooled[index] if self.pooled is not None else None
        return CondBatch(self.crossattn[index], pooled)

    def to(self, *args: Any, **kwargs: Any) -> "CondBatch":
        pooled = self.pooled.to(*args, **kwargs) if self.pooled is not None else None
        return CondBatch(self.crossattn.to(*args, **kwargs), pooled)

    def pad_to_length(self, tokens: int, empty: "CondBatch") -> "CondBatch":
        """Append empty-prompt chunks until there are `tokens` tokens (A1111's pad_cond_uncond)."""
        missing = tokens - self.tokens
        if missing <= 0:
            return self
        if missing % empty.tokens:
            raise ValueError(f"cannot pad {self.tokens} tokens to {tokens} with {empty.tokens}-token chunks")
        filler = empty.crossattn[:1].to(self.crossattn).expand(len(self), -1, -1)
        filler = filler.repeat(1, missing // empty.tokens, 1)
        return CondBatch(torch.cat([self.crossattn, filler], dim=1), self.pooled)

    @staticmethod
    def concat(batches: Sequence["CondBatch"]) -> "CondBatch":
        """Join along the batch axis; rows with fewer tokens repeat their last token vector
        (what A1111 does when AND sub-prompts have different lengths)."""
        if not batches:
            raise ValueError("CondBatch.concat needs at least one batch")
        length = max(b.tokens for b in batches)
        parts = [_repeat_last(b.crossattn, length) for b in batches]
        pooled = None
        if all(b.pooled is not None for b in batches):
            pooled = torch.cat([b.pooled for b in batches], dim=0)  # type: ignore[misc]
        elif any(b.pooled is not None for b in batches):
            raise ValueError("cannot concatenate conditioning with and without pooled embeddings")
        return CondBatch(torch.cat(parts, dim=0), pooled)


def _repeat_last(t: torch.Tensor, length: int) -> torch.Tensor:
    missing = length - t.shape[1]
    if missing <= 0:
        return t
    return torch.cat([t, t[:, -1:].expand(-1, missing, -1)], dim=1)
