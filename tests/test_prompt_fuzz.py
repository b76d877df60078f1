"""Bad prompts never crash: seeded bracket soup through both parsers, AND-splitting and the chunker."""

from __future__ import annotations

import random

import pytest

from modules.prompt_parser import (
    get_learned_conditioning_prompt_schedules,
    get_multicond_prompt_list,
    parse_prompt_attention,
)
from modules.text.chunking import ChunkingRules, count_tokens, tokenize_line
from modules.text.clip_tokenizer import END_ID, START_ID, load_clip_tokenizer, tokenize_texts

PIECES = ["(", ")", "[", "]", ":", "|", "\\", " ", "a", "cat", ",", "1", ".5", "-2", "1e9", ":0.5", "BREAK",
          " AND ", "<lora:x:1>", "::", "\\(", "[a:b:2]", "[x|y]", "(z:1.3)", "\n", "é", "&amp;"]


def soup(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 12)))


SOUPS = [soup(random.Random(seed)) for seed in range(120)] + [
    "", "(" * 40, "]" * 40, "[" * 20 + "a:b:1", "[a:b:1" + "]" * 20, "\\", "(:)", "[:]", "[|]", "[a|b:3]",
    "(a:1.2.3)", "(a:.)", "[a:b:9" * 5, "AND", "AND:2 AND", "a:-", "<lora:", "(" * 5 + "cat" + ")" * 9,
]


@pytest.fixture(scope="module")
def tok():
    tokenizer = load_clip_tokenizer()
    return lambda texts: tokenize_texts(tokenizer, texts)


@pytest.mark.parametrize("prompt", SOUPS)
def test_parsers_accept_anything(prompt: str) -> None:
    parsed = parse_prompt_attention(prompt)
    assert parsed and all(isinstance(t, str) and isinstance(w, float | int) for t, w in parsed)
    if not any(c in prompt for c in "()[]\\:") and "BREAK" not in prompt:
        assert parsed == [[prompt, 1.0]]

    indexes, flat, _ = get_multicond_prompt_list([prompt])
    assert len(indexes) == 1 and all(0 <= i < len(flat) for i, _ in indexes[0])

    for hires, old in [(None, False), (15, False), (15, True)]:
        schedule = get_learned_conditioning_prompt_schedules(flat, 10, hires, old)
        for entries in schedule:
            ends = [end for end, _ in entries]
            assert ends == sorted(set(ends)) and all(isinstance(t, str) for _, t in entries)
            assert ends[-1] == (hires if hires and not old else 10)


@pytest.mark.parametrize("prompt", SOUPS[::3])
def test_chunker_accepts_anything(tok, prompt: str) -> None:
    for rules in (ChunkingRules(), ChunkingRules(pad_id=0, emphasis="None", comma_padding_backtrack=0)):
        chunks, count = tokenize_line(prompt, tok, rules)
        assert chunks and count >= 0
        for chunk in chunks:
            assert len(chunk.tokens) == len(chunk.multipliers) == 77
            assert chunk.tokens[0] == START_ID and END_ID in chunk.tokens
    assert count_tokens(prompt)[1] % 75 == 0
