"""Long prompts: pour tokens into 75-token chunks, each wrapped to 77 as [BOS] + 75 + [EOS].

Why chunks: CLIP sees 77 positions, but A1111 prompts may be any length; each chunk is encoded
on its own and the outputs are joined along the token axis. The rules below decide exactly
which token lands in which chunk, because that changes the picture:
- BREAK closes the current chunk at once (it is padded to 75).
- Comma backtrack: when a chunk is full and the next token is not a comma, the tokens after
  the chunk's last comma move to the next chunk if there are at most `comma_padding_backtrack`
  of them, so a phrase is not cut in two.
- Textual-inversion embeddings become placeholder tokens (id 0) carrying the current weight and
  a `PromptChunkFix`; an embedding that does not fit closes the chunk first.
- Chunks are padded with <|endoftext|>; encoders that pad differently (OpenCLIP: id 0) get
  their pad id after the first end token.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from modules.prompt_parser import (
    get_learned_conditioning_prompt_schedules,
    get_multicond_prompt_list,
    parse_prompt_attention,
)
from modules.text.clip_tokenizer import COMMA_ID, END_ID, START_ID, load_clip_tokenizer, tokenize_texts
from modules.text.emphasis import parses_attention

if TYPE_CHECKING:
    import torch

CHUNK_LENGTH = 75  # tokens per chunk, before the start/end tokens are added


@runtime_checkable
class Embedding(Protocol):
    """A textual-inversion embedding: `vec` is (n, dim), or a dict per encoder for SDXL
    (A1111 files use the keys "clip_l" and "clip_g")."""

    name: str
    vec: torch.Tensor | Mapping[str, torch.Tensor]


@runtime_checkable
class EmbeddingLookup(Protocol):
    """Finds an embedding whose name's tokens start at `offset` in `tokens`.

    Returns the embedding (or None) and how many prompt tokens its name used.
    """

    def find_embedding_at_position(self, tokens: list[int], offset: int) -> tuple[Embedding | None, int]: ...


@dataclass
class PromptChunkFix:
    """Embedding vectors to write over the placeholders starting at `offset` (counted without
    the start token, as in A1111)."""

    offset: int
    embedding: Any


@dataclass
class PromptChunk:
    tokens: list[int] = field(default_factory=list)
    multipliers: list[float] = field(default_factory=list)
    fixes: list[PromptChunkFix] = field(default_factory=list)


@dataclass(frozen=True)
class ChunkingRules:
    """Token ids and settings for one encoder's chunking."""

    comma_padding_backtrack: int = 20
    emphasis: str = "Original"
    pad_id: int = END_ID
    start_id: int = START_ID
    end_id: int = END_ID
    comma_id: int = COMMA_ID


def embedding_vector_count(embedding: Any) -> int:
    """How many token positions an embedding fills."""
    vectors = getattr(embedding, "vectors", None)
    if isinstance(vectors, int):
        return vectors
    vec = embedding.vec
    if isinstance(vec, Mapping):
        vec = next(iter(vec.values()))
    return 1 if vec.dim() == 1 else int(vec.shape[0])


class _ChunkBuilder:
    """Per-line pouring state (one instance per call, so nothing is shared)."""

    def __init__(self, rules: ChunkingRules) -> None:
        self.rules = rules
        self.chunks: list[PromptChunk] = []
        self.chunk = PromptChunk()
        self.last_comma = -1
        self.token_count = 0

    def close(self, is_last: bool = False) -> None:
        """Pad the current chunk to 75, wrap it to 77 and start a new one."""
        chunk, rules = self.chunk, self.rules
        self.token_count += len(chunk.tokens) if is_last else CHUNK_LENGTH
        missing = CHUNK_LENGTH - len(chunk.tokens)
        chunk.tokens = [rules.start_id, *chunk.tokens, *[rules.end_id] * missing, rules.end_id]
        chunk.multipliers = [1.0, *chunk.multipliers, *[1.0] * missing, 1.0]
        _pad_after_first_end(chunk.tokens, rules)
        self.chunks.append(chunk)
        self.chunk = PromptChunk()
        self.last_comma = -1

    def backtrack_to_comma(self) -> None:
        """Move the tokens after the last comma into a fresh chunk."""
        cut = self.last_comma + 1
        moved_tokens, moved_mults = self.chunk.tokens[cut:], self.chunk.multipliers[cut:]
        del self.chunk.tokens[cut:], self.chunk.multipliers[cut:]
        self.close()
        self.chunk.tokens, self.chunk.multipliers = moved_tokens, moved_mults

    def should_backtrack(self, token: int) -> bool:
        backtrack = self.rules.comma_padding_backtrack
        size = len(self.chunk.tokens)
        return (backtrack != 0 and token != self.rules.comma_id and size == CHUNK_LENGTH
                and self.last_comma != -1 and size - self.last_comma <= backtrack)

    def add_fragment(self, tokens: list[int], weight: float, embeddings: EmbeddingLookup | None) -> None:
        position = 0
        while position < len(tokens):
            token = tokens[position]
            if token == self.rules.comma_id:
                self.last_comma = len(self.chunk.tokens)
            elif self.should_backtrack(token):
                self.backtrack_to_comma()
            if len(self.chunk.tokens) == CHUNK_LENGTH:
                self.close()
            embedding, used = (None, 1)
            if embeddings is not None:
                embedding, used = embeddings.find_embedding_at_position(tokens, position)
            if embedding is None:
                self.chunk.tokens.append(token)
                self.chunk.multipliers.append(weight)
                position += 1
            else:
                self.add_embedding(embedding, weight)
                position += max(1, used)

    def add_embedding(self, embedding: Any, weight: float) -> None:
        count = embedding_vector_count(embedding)
        if count > CHUNK_LENGTH:
            raise ValueError(f"embedding {getattr(embedding, 'name', '?')!r} has {count} vectors; "
                             f"at most {CHUNK_LENGTH} fit in a prompt chunk")
        if len(self.chunk.tokens) + count > CHUNK_LENGTH:
            self.close()
        self.chunk.fixes.append(PromptChunkFix(len(self.chunk.tokens), embedding))
        self.chunk.tokens += [0] * count
        self.chunk.multipliers += [weight] * count


def _pad_after_first_end(tokens: list[int], rules: ChunkingRules) -> None:
    if rules.pad_id == rules.end_id:
        return
    first_end = tokens.index(rules.end_id)
    tokens[first_end + 1:] = [rules.pad_id] * (len(tokens) - first_end - 1)


def parse_line(line: str, emphasis: str) -> list[list[Any]]:
    """`[text, weight]` fragments; with emphasis "None" the whole line is one literal fragment."""
    return parse_prompt_attention(line) if parses_attention(emphasis) else [[line, 1.0]]


Tokenize = Callable[[list[str]], list[list[int]]]


def tokenize_line(line: str, tokenize: Tokenize, rules: ChunkingRules | None = None,
                  embeddings: EmbeddingLookup | None = None) -> tuple[list[PromptChunk], int]:
    """Chunks of 77 tokens for one prompt text, and the token count the UI shows.

    `tokenize` maps fragment texts to token ids without start/end tokens.
    """
    rules = rules or ChunkingRules()
    parsed = parse_line(line, rules.emphasis)
    tokenized = tokenize([text for text, _ in parsed])
    builder = _ChunkBuilder(rules)
    for tokens, (text, weight) in zip(tokenized, parsed, strict=True):
        if text == "BREAK" and weight == -1:
            builder.close()
            continue
        builder.add_fragment(tokens, weight, embeddings)
    if builder.chunk.tokens or not builder.chunks:
        builder.close(is_last=True)
    return builder.chunks, builder.token_count


def empty_chunk(rules: ChunkingRules | None = None) -> PromptChunk:
    """The chunk of an empty prompt: [BOS] + [EOS] * 76 (then the encoder's pad id)."""
    rules = rules or ChunkingRules()
    builder = _ChunkBuilder(rules)
    builder.close(is_last=True)
    return builder.chunks[0]


def target_token_count(token_count: int) -> int:
    """The counter's target: the next multiple of 75 (at least 75)."""
    return math.ceil(max(token_count, 1) / CHUNK_LENGTH) * CHUNK_LENGTH


def count_tokens(text: str, tokenizer: Any = None, steps: int = 20, is_positive: bool = True,
                 embeddings: EmbeddingLookup | None = None, comma_padding_backtrack: int = 20,
                 emphasis: str = "Original") -> tuple[int, int]:
    """The UI token counter ("12/75"): the longest text any schedule or AND part produces.

    Extra-network tags are removed first; AND is split only for the positive prompt.
    """
    from modules.text.extra_networks import parse_prompt_extra_networks

    text, _ = parse_prompt_extra_networks(text)
    texts = get_multicond_prompt_list([text])[1] if is_positive else [text]
    schedules = get_learned_conditioning_prompt_schedules(texts, steps)
    tok = tokenizer if tokenizer is not None else load_clip_tokenizer()
    rules = ChunkingRules(comma_padding_backtrack=comma_padding_backtrack, emphasis=emphasis)
    counts = [tokenize_line(t, lambda f: tokenize_texts(tok, f), rules, embeddings)[1]
              for schedule in schedules for _, t in schedule]
    count = max(counts, default=0)
    return count, target_token_count(count)
