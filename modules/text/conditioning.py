"""Prompt text -> conditioning tensors, A1111-exact: chunks, emphasis, clip skip, SDXL, schedules.

Why a conditioner object per job: the same texts come back every batch and every AND part, so
each schedule is encoded once and kept in the instance (never in module state). Texts that
A1111 encodes together as one batch (the texts of one prompt's schedule) are encoded together
here as well, because that batch decides two visible things: how many 77-token chunks each text
gets (the longest text's count; shorter ones get empty-prompt chunks), and the mean that the
"Original" emphasis restores. Duplicate texts (alternation repeats them every step) are
encoded once and counted with their multiplicity, which gives the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from modules.model_types import LoadedModel, TextEncoderBundle, TextEncoderKind
from modules.prompt_parser import get_learned_conditioning_prompt_schedules, get_multicond_prompt_list
from modules.text.chunking import ChunkingRules, EmbeddingLookup, PromptChunk, empty_chunk, tokenize_line
from modules.text.clip_tokenizer import tokenize_texts
from modules.text.cond_batch import CondBatch
from modules.text.emphasis import apply_emphasis, check_emphasis
from modules.text.encoder import encode_chunks, layer_choice
from modules.text.scheduled_cond import (
    ComposableScheduledPromptConditioning,
    MulticondLearnedConditioning,
    ScheduledPromptConditioning,
)

__all__ = ["CondBatch", "PromptConditioner", "TextOptions"]


@dataclass(frozen=True)
class TextOptions:
    """The A1111 settings that change text conditioning (CLIP_stop_at_last_layers, emphasis,
    comma_padding_backtrack, sdxl_clip_l_skip, use_old_scheduling)."""

    clip_skip: int = 1
    emphasis: str = "Original"
    comma_padding_backtrack: int = 20
    sdxl_clip_l_skip: bool = False
    use_old_scheduling: bool = False

    def __post_init__(self) -> None:
        check_emphasis(self.emphasis)
        if not 0 <= self.comma_padding_backtrack <= 74:
            raise ValueError("comma_padding_backtrack must be 0-74 (0 turns it off), "
                             f"got {self.comma_padding_backtrack}")


ScheduleKey = tuple[str, int, "int | None", bool]


class PromptConditioner:
    """Encodes prompts for one model with fixed options; caches per instance (one per job)."""

    def __init__(self, model: LoadedModel, options: TextOptions | None = None,
                 embeddings: EmbeddingLookup | None = None, check: Callable[[], None] | None = None) -> None:
        """`check` is called between chunks (the job's interrupt check): a long prompt's
        encoding stops when the job is interrupted or cancelled."""
        if not model.text_encoders:
            raise ValueError("the model has no text encoders, so prompts cannot be encoded")
        self.check = check or (lambda: None)
        self.model = model
        self.options = options or TextOptions()
        self.embeddings = embeddings
        self.used_embeddings: dict[str, Any] = {}  # name -> embedding, for "TI hashes" in the infotext
        self._schedules: dict[ScheduleKey, list[ScheduledPromptConditioning]] = {}
        self._empty: CondBatch | None = None

    # -- prompts with schedules ----------------------------------------------------------------

    def get_learned_conditioning(self, prompts: list[str], steps: int, hires_steps: int | None = None, *,
                                 is_negative_prompt: bool = False) -> list[list[ScheduledPromptConditioning]]:
        """For each prompt, its schedule of (end_at_step, one-row CondBatch).

        `is_negative_prompt`: SDXL turns an empty negative prompt into zeros, as A1111 does.
        """
        schedules = get_learned_conditioning_prompt_schedules(prompts, steps, hires_steps,
                                                              self.options.use_old_scheduling)
        result = []
        for prompt, schedule in zip(prompts, schedules, strict=True):
            key = (prompt, steps, hires_steps, is_negative_prompt)
            if key not in self._schedules:
                self._schedules[key] = self._encode_schedule(schedule, is_negative_prompt)
            result.append(self._schedules[key])
        return result

    def get_multicond_learned_conditioning(self, prompts: list[str], steps: int,
                                           hires_steps: int | None = None) -> MulticondLearnedConditioning:
        """Like get_learned_conditioning, with each prompt split on AND into weighted parts."""
        res_indexes, flat, _ = get_multicond_prompt_list(prompts)
        learned = self.get_learned_conditioning(flat, steps, hires_steps)
        batch = [[ComposableScheduledPromptConditioning(learned[i], weight) for i, weight in indexes]
                 for indexes in res_indexes]
        return MulticondLearnedConditioning(shape=(len(prompts),), batch=batch)

    def _encode_schedule(self, schedule: list[list[Any]],
                         is_negative_prompt: bool) -> list[ScheduledPromptConditioning]:
        texts = [text for _, text in schedule]
        cond = self.encode_texts(texts)
        if is_negative_prompt and self.model.family.is_sdxl and all(t == "" for t in texts):
            pooled = torch.zeros_like(cond.pooled) if cond.pooled is not None else None
            cond = CondBatch(torch.zeros_like(cond.crossattn), pooled)
        return [ScheduledPromptConditioning(end, cond[i]) for i, (end, _) in enumerate(schedule)]

    # -- plain texts ---------------------------------------------------------------------------

    def encode_texts(self, texts: list[str]) -> CondBatch:
        """Encode texts as one A1111 batch: (len(texts), 77*k, C) with k the most chunks any
        text needs, plus the pooled vector of each text's first chunk (SDXL)."""
        if not texts:
            raise ValueError("encode_texts needs at least one text")
        unique = list(dict.fromkeys(texts))
        counts = [texts.count(t) for t in unique]
        encoded = self._encode_unique(unique, counts)
        rows = [unique.index(t) for t in texts]
        return encoded[rows] if rows != list(range(len(unique))) else encoded

    def empty_chunk(self) -> CondBatch:
        """The encoding of the empty prompt (1, 77, C): what shorter conds are padded with."""
        if self._empty is None:
            self._empty = self.encode_texts([""])
        return self._empty

    def _encode_unique(self, texts: list[str], counts: list[int]) -> CondBatch:
        bundles = self.model.text_encoders
        self.check()
        chunked = [[self._chunks(bundle, text) for text in texts] for bundle in bundles]
        k = max(len(chunks) for per_bundle in chunked for chunks in per_bundle)
        row_counts = torch.tensor(counts, dtype=torch.float32)
        parts, pooled = [], None
        for bundle, per_text in zip(bundles, chunked, strict=True):
            z, pool = self._encode_bundle(bundle, per_text, k, row_counts)
            parts.append(z)
            if pool is not None:
                pooled = pool.float()
        return CondBatch(torch.cat(parts, dim=2), pooled)

    def _encode_bundle(self, bundle: TextEncoderBundle, per_text: list[list[PromptChunk]], k: int,
                       row_counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Chunk by chunk over the batch (missing chunks are empty ones), then joined on tokens."""
        opts = self.options
        choice = layer_choice(bundle, opts.clip_skip, opts.sdxl_clip_l_skip)
        blank = empty_chunk(self._rules(bundle))
        zs, first_pooled = [], None
        for i in range(k):
            self.check()
            rows = [chunks[i] if i < len(chunks) else blank for chunks in per_text]
            z, pooled = encode_chunks(bundle, rows, choice)
            multipliers = torch.tensor([r.multipliers for r in rows], dtype=torch.float32, device=z.device)
            zs.append(apply_emphasis(z, multipliers, opts.emphasis, row_counts.to(z.device)).float())
            if i == 0:
                first_pooled = pooled
        return torch.cat(zs, dim=1), first_pooled

    def _rules(self, bundle: TextEncoderBundle) -> ChunkingRules:
        return ChunkingRules(comma_padding_backtrack=self.options.comma_padding_backtrack,
                             emphasis=self.options.emphasis, pad_id=bundle.pad_token_id)

    def _tokenizer_fn(self, bundle: TextEncoderBundle) -> Callable[[list[str]], list[list[int]]]:
        """A1111 tokenizes CLIP-L with transformers (ftfy only) and OpenCLIP with open_clip's
        tokenizer (ftfy + HTML unescape); the ids differ only for rare inputs."""
        unescape = bundle.kind is not TextEncoderKind.CLIP_L
        return lambda fragments: tokenize_texts(bundle.tokenizer, fragments, unescape_html=unescape)

    def _chunks(self, bundle: TextEncoderBundle, text: str) -> list[PromptChunk]:
        chunks, _ = tokenize_line(text, self._tokenizer_fn(bundle), self._rules(bundle), self.embeddings)
        for chunk in chunks:
            for fix in chunk.fixes:
                self.used_embeddings[getattr(fix.embedding, "name", "?")] = fix.embedding
        return chunks

    def token_count(self, text: str) -> int:
        """Tokens of one text as the UI counts them (first encoder)."""
        bundle = self.model.text_encoders[0]
        return tokenize_line(text, self._tokenizer_fn(bundle), self._rules(bundle), self.embeddings)[1]
