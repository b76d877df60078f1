"""Run one text encoder over a batch of 77-token chunks, with A1111's layer choice per encoder.

Which hidden layer becomes the conditioning differs per architecture, and users notice:
- SD1 CLIP-L: the last layer after the final layer norm; "Clip skip" N > 1 takes
  `hidden_states[-N]` and then the final layer norm.
- SD2 OpenCLIP-H: the penultimate layer followed by the final layer norm, always. A1111 never
  wired "Clip skip" to this encoder (its hook for it is a stub), so the setting has no effect
  on SD2 here either; SD2 behaves like clip skip 2 by construction.
- SDXL CLIP-L: `hidden_states[-2]` WITHOUT the final layer norm; with the option
  `sdxl_clip_l_skip` it is `hidden_states[-N]` (still without the norm, so N=1 is the raw last
  layer output).
- SDXL (and refiner) OpenCLIP-G: `hidden_states[-2]` without the final norm; clip skip ignored.
  Its pooled output is the projected end-token state (`text_embeds`) of the full model.
Textual-inversion vectors replace the placeholder token embeddings through a forward hook on the
token-embedding layer that is removed right after the call, so the model is never modified.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from modules.model_types import TextEncoderBundle, TextEncoderKind
from modules.text.chunking import PromptChunk, PromptChunkFix

# Keys of per-encoder vectors in SDXL embedding files (A1111 format), plus our kind names.
_EMBEDDING_KEYS = {
    TextEncoderKind.CLIP_L: ("clip_l", TextEncoderKind.CLIP_L.value),
    TextEncoderKind.OPEN_CLIP_H: ("clip_h", TextEncoderKind.OPEN_CLIP_H.value),
    TextEncoderKind.OPEN_CLIP_G: ("clip_g", TextEncoderKind.OPEN_CLIP_G.value),
}


@dataclass(frozen=True)
class LayerChoice:
    """`hidden_index` None means the model's final output (last layer + final norm)."""

    hidden_index: int | None
    final_norm: bool


def layer_choice(bundle: TextEncoderBundle, clip_skip: int, sdxl_clip_l_skip: bool = False) -> LayerChoice:
    """Which layer this encoder's conditioning comes from (see the module docstring)."""
    if bundle.kind is TextEncoderKind.CLIP_L and not bundle.penultimate_default:
        return LayerChoice(-clip_skip, True) if clip_skip > 1 else LayerChoice(None, True)
    if bundle.kind is TextEncoderKind.CLIP_L:
        return LayerChoice(-max(clip_skip, 1) if sdxl_clip_l_skip else -2, False)
    if bundle.kind is TextEncoderKind.OPEN_CLIP_H:
        return LayerChoice(-2, True)
    return LayerChoice(-2, False)


def _text_model(model: Any) -> Any:
    """The CLIPTextModel inside (CLIPTextModelWithProjection wraps one as `.text_model`)."""
    return model.text_model if hasattr(model, "text_projection") else model


def _device(model: Any) -> torch.device:
    return next(model.parameters()).device


def _hidden_width(model: Any) -> int:
    return int(model.config.hidden_size)


def embedding_vectors(embedding: Any, kind: TextEncoderKind, width: int) -> torch.Tensor:
    """The (n, width) vectors of a textual-inversion embedding for this encoder, or a clear error."""
    vec = embedding.vec
    name = getattr(embedding, "name", "?")
    if isinstance(vec, Mapping):
        key = next((k for k in _EMBEDDING_KEYS[kind] if k in vec), None)
        if key is None:
            raise ValueError(f"embedding {name!r} has no vectors for the {kind.value} text encoder "
                             f"(it has {sorted(vec)}); use an embedding made for this model family")
        vec = vec[key]
    vec = vec.unsqueeze(0) if vec.dim() == 1 else vec
    if vec.shape[-1] != width:
        raise ValueError(f"embedding {name!r} has {vec.shape[-1]}-wide vectors but the {kind.value} text "
                         f"encoder needs {width}; it was made for another model family")
    return vec


@contextmanager
def _inject_embeddings(model: Any, kind: TextEncoderKind,
                       fixes: list[list[PromptChunkFix]]) -> Iterator[None]:
    """Write embedding vectors over their placeholder tokens during the next forward pass."""
    if not any(fixes):
        yield
        return
    width = _hidden_width(model)
    prepared = [[(fix.offset, embedding_vectors(fix.embedding, kind, width)) for fix in row] for row in fixes]

    def hook(_module: Any, _inputs: Any, output: torch.Tensor) -> torch.Tensor:
        output = output.clone()
        for row, row_fixes in enumerate(prepared):
            for offset, vec in row_fixes:
                start = offset + 1  # after the start token
                n = min(vec.shape[0], output.shape[1] - start)
                output[row, start:start + n] = vec[:n].to(output)
        return output

    handle = model.get_input_embeddings().register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def encode_chunks(bundle: TextEncoderBundle, chunks: list[PromptChunk], choice: LayerChoice,
                  ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Encode a batch of 77-token chunks: returns z (B, 77, C) and pooled (B, P) or None."""
    model = bundle.model
    tokens = torch.tensor([c.tokens for c in chunks], dtype=torch.long, device=_device(model))
    want_hidden = choice.hidden_index is not None
    with _inject_embeddings(model, bundle.kind, [c.fixes for c in chunks]):
        out = model(input_ids=tokens, output_hidden_states=want_hidden)
    if not want_hidden:
        z = out.last_hidden_state
    else:
        z = _pick_hidden(out.hidden_states, choice.hidden_index, bundle.kind)  # type: ignore[arg-type]
        if choice.final_norm:
            z = _text_model(model).final_layer_norm(z)
    pooled = getattr(out, "text_embeds", None)
    return z, pooled


def _pick_hidden(hidden_states: tuple[torch.Tensor, ...], index: int, kind: TextEncoderKind) -> torch.Tensor:
    if -index > len(hidden_states):
        layers = len(hidden_states) - 1
        raise ValueError(f"Clip skip {-index} is too large for the {kind.value} text encoder, which has "
                         f"{layers} layers; use a value from 1 to {layers + 1}")
    return hidden_states[index]
