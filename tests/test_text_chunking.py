"""75-token chunking with the real CLIP ids: sizes, padding, BREAK, comma backtrack, embeddings."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from modules.text.chunking import (
    ChunkingRules,
    count_tokens,
    empty_chunk,
    target_token_count,
    tokenize_line,
)
from modules.text.clip_tokenizer import COMMA_ID, END_ID, START_ID, load_clip_tokenizer, tokenize_texts

CAT, DOG, A = 2368, 1929, 320


@pytest.fixture(scope="module")
def tok():
    tokenizer = load_clip_tokenizer()
    return lambda texts: tokenize_texts(tokenizer, texts)


def body(chunk) -> list[int]:
    """The 75 tokens between the start and end tokens."""
    assert len(chunk.tokens) == 77 and len(chunk.multipliers) == 77
    assert chunk.tokens[0] == START_ID
    return chunk.tokens[1:76]


def test_200_tokens_make_three_chunks(tok) -> None:
    chunks, count = tokenize_line("cat " * 200, tok)
    assert count == 200
    assert [body(c) for c in chunks] == [[CAT] * 75, [CAT] * 75, [CAT] * 50 + [END_ID] * 25]
    assert all(c.tokens[76] == END_ID for c in chunks)


def test_comma_backtrack_moves_the_phrase_after_the_last_comma(tok) -> None:
    prompt = "cat " * 70 + ", " + "(dog) " * 10
    chunks, count = tokenize_line(prompt, tok)
    first, second = (body(c) for c in chunks)
    assert first == [CAT] * 70 + [COMMA_ID] + [END_ID] * 4  # the 4 dogs that fit were moved
    assert second == [DOG] * 10 + [END_ID] * 65
    assert chunks[1].multipliers[1:11] == pytest.approx([1.1] * 10)  # weights move with their tokens
    assert chunks[0].multipliers[72:76] == [1.0] * 4  # padding has weight 1
    assert count == 85


@pytest.mark.parametrize("backtrack", [0, 4])
def test_comma_backtrack_off_or_too_far(tok, backtrack: int) -> None:
    prompt = "cat " * 70 + ", " + "dog " * 10  # 5 tokens after the comma would have to move
    chunks, _ = tokenize_line(prompt, tok, ChunkingRules(comma_padding_backtrack=backtrack))
    assert body(chunks[0]) == [CAT] * 70 + [COMMA_ID] + [DOG] * 4
    assert body(chunks[1])[:7] == [DOG] * 6 + [END_ID]


def test_comma_exactly_at_the_limit_moves(tok) -> None:
    prompt = "cat " * 70 + ", " + "dog " * 10
    chunks, _ = tokenize_line(prompt, tok, ChunkingRules(comma_padding_backtrack=5))
    assert body(chunks[0])[70:] == [COMMA_ID] + [END_ID] * 4


def test_a_comma_that_overflows_starts_the_next_chunk(tok) -> None:
    chunks, count = tokenize_line("cat " * 75 + ", dog", tok)
    assert body(chunks[0]) == [CAT] * 75
    assert body(chunks[1])[:3] == [COMMA_ID, DOG, END_ID]
    assert count == 77


def test_break_closes_the_chunk(tok) -> None:
    chunks, count = tokenize_line("a cat BREAK a dog", tok)
    assert [body(c)[:3] for c in chunks] == [[A, CAT, END_ID], [A, DOG, END_ID]]
    assert count == 77  # a closed chunk counts as 75
    chunks, _ = tokenize_line("a BREAK BREAK b", tok)
    assert len(chunks) == 3 and body(chunks[1]) == [END_ID] * 75


def test_break_inside_brackets_is_text_like_a1111(tok) -> None:
    chunks, _ = tokenize_line("(a BREAK b)", tok)
    assert len(chunks) == 1 and body(chunks[0])[1] == tok(["break"])[0][0]


def test_empty_prompt_is_one_empty_chunk(tok) -> None:
    chunks, count = tokenize_line("", tok)
    assert count == 0 and len(chunks) == 1
    assert chunks[0].tokens == [START_ID] + [END_ID] * 76 == empty_chunk().tokens


def test_open_clip_pads_with_zero_after_the_first_end(tok) -> None:
    rules = ChunkingRules(pad_id=0)
    chunks, _ = tokenize_line("a cat", tok, rules)
    assert chunks[0].tokens[:5] == [START_ID, A, CAT, END_ID, 0] and chunks[0].tokens[-1] == 0
    full, _ = tokenize_line("cat " * 75, tok, rules)
    assert full[0].tokens[-1] == END_ID and 0 not in full[0].tokens
    assert empty_chunk(rules).tokens == [START_ID, END_ID] + [0] * 75


def test_weights_per_token(tok) -> None:
    chunks, _ = tokenize_line("a (cat:1.5) [dog]", tok)
    assert body(chunks[0])[:3] == [A, CAT, DOG]
    assert chunks[0].multipliers[:5] == pytest.approx([1.0, 1.0, 1.5, 1 / 1.1, 1.0])


def test_emphasis_none_keeps_brackets_and_break_as_text(tok) -> None:
    chunks, _ = tokenize_line("(cat) BREAK dog", tok, ChunkingRules(emphasis="None"))
    assert len(chunks) == 1
    literal = tok(["(cat) break dog"])[0]
    assert body(chunks[0])[:len(literal) + 1] == literal + [END_ID]
    assert set(chunks[0].multipliers) == {1.0}


@dataclass
class FakeEmbedding:
    name: str
    vec: torch.Tensor


class FakeLookup:
    """Finds embeddings by their name's token ids (what the real embedding database does)."""

    def __init__(self, tok, embeddings: list[FakeEmbedding]) -> None:
        self.by_ids = {tuple(tok([e.name])[0]): e for e in embeddings}

    def find_embedding_at_position(self, tokens: list[int], offset: int):
        for ids, emb in self.by_ids.items():
            if tuple(tokens[offset:offset + len(ids)]) == ids:
                return emb, len(ids)
        return None, None


def test_embedding_placeholders_weights_and_fix(tok) -> None:
    emb = FakeEmbedding("fluffystyle", torch.zeros(3, 8))
    lookup = FakeLookup(tok, [emb])
    assert len(tok(["fluffystyle"])[0]) > 1  # the name spans several tokens
    chunks, count = tokenize_line("a (fluffystyle:1.2) cat", tok, embeddings=lookup)
    assert body(chunks[0])[:6] == [A, 0, 0, 0, CAT, END_ID]
    assert chunks[0].multipliers[1:6] == pytest.approx([1.0, 1.2, 1.2, 1.2, 1.0])
    assert [(f.offset, f.embedding.name) for f in chunks[0].fixes] == [(1, "fluffystyle")]
    assert count == 5


def test_embedding_that_does_not_fit_closes_the_chunk(tok) -> None:
    lookup = FakeLookup(tok, [FakeEmbedding("fluffystyle", torch.zeros(3, 8))])
    chunks, _ = tokenize_line("cat " * 73 + "fluffystyle", tok, embeddings=lookup)
    assert body(chunks[0]) == [CAT] * 73 + [END_ID] * 2 and chunks[0].fixes == []
    assert body(chunks[1])[:4] == [0, 0, 0, END_ID]
    assert [f.offset for f in chunks[1].fixes] == [0]


def test_embedding_longer_than_a_chunk_is_a_clear_error(tok) -> None:
    lookup = FakeLookup(tok, [FakeEmbedding("hugestyle", torch.zeros(80, 8))])
    with pytest.raises(ValueError, match="'hugestyle' has 80 vectors; at most 75"):
        tokenize_line("hugestyle", tok, embeddings=lookup)


@pytest.mark.parametrize(("n", "target"), [(0, 75), (1, 75), (75, 75), (76, 150), (200, 225)])
def test_target_token_count(n: int, target: int) -> None:
    assert target_token_count(n) == target


@pytest.mark.parametrize(("text", "positive", "expected"), [
    ("a photo of a cat", True, (5, 75)),
    ("", True, (0, 75)),
    ("cat " * 200, True, (200, 225)),
    ("a AND b c", True, (2, 75)),  # the longest AND part
    ("a AND b c", False, (4, 75)),  # negative prompts are not split: "and" is a word
    ("[a b c:d:5]", True, (3, 75)),  # the longest scheduled text
    ("<lora:thing:0.8> cat", True, (1, 75)),  # extra-network tags do not count
    ("a BREAK b", True, (76, 150)),
])
def test_count_tokens(text: str, positive: bool, expected: tuple[int, int]) -> None:
    assert count_tokens(text, is_positive=positive) == expected
