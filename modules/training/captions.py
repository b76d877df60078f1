"""Captions → the 77-token id rows the app's SD1 text path feeds CLIP-L.

Why not the tokenizer's own padding: the engine builds A1111's chunks ([start] + tokens + [end],
padded with the end token to 77), and the model must be trained on exactly those rows, including
the empty prompt used for the unconditional half of classifier-free guidance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from modules.text.clip_tokenizer import END_ID, MODEL_MAX_LENGTH, START_ID, tokenize_texts


def token_rows(tokenizer: Any, captions: Sequence[str]) -> torch.Tensor:
    """(N, 77) int64 ids for captions that fit one chunk (a clear error for longer ones)."""
    rows = []
    for caption, ids in zip(captions, tokenize_texts(tokenizer, list(captions))):
        if len(ids) > MODEL_MAX_LENGTH - 2:
            raise ValueError(f"The caption '{caption[:60]}...' has {len(ids)} tokens; training captions "
                             "must fit "
                             f"one chunk of {MODEL_MAX_LENGTH - 2}.")
        row = [START_ID, *ids, END_ID]
        rows.append(row + [END_ID] * (MODEL_MAX_LENGTH - len(row)))
    return torch.tensor(rows, dtype=torch.long).reshape(len(rows), MODEL_MAX_LENGTH)


def empty_row() -> torch.Tensor:
    """The empty prompt's row (start, then end tokens): the unconditional input of CFG."""
    return torch.tensor([START_ID] + [END_ID] * (MODEL_MAX_LENGTH - 1), dtype=torch.long)
