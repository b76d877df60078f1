"""The offline CLIP tokenizer gives the real CLIP ids; the shipped files match the build rule."""

from __future__ import annotations

import json

import pytest

from modules.text.clip_tokenizer import (
    CLIP_TOKENIZER_DIR,
    COMMA_ID,
    END_ID,
    START_ID,
    clean_text,
    load_clip_tokenizer,
    tokenize_texts,
)
from tools.build_clip_tokenizer import build_vocab, byte_symbols


@pytest.fixture(scope="module")
def tokenizer():
    return load_clip_tokenizer()


def test_a_photo_of_a_cat_has_the_real_ids(tokenizer) -> None:
    assert tokenizer("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]


@pytest.mark.parametrize(("text", "ids"), [
    ("the dog", [518, 1929]),
    (",", [COMMA_ID]),
    ("!", [256]),  # "!</w>"
    ("1234", [272, 273, 274, 275]),  # CLIP splits digits one by one
    ("don't", [847, 713]),
    ("A  PHOTO\n of", [320, 1125, 539]),  # lower-cased, whitespace collapsed
    ("", []),
])
def test_known_ids_without_special_tokens(tokenizer, text: str, ids: list[int]) -> None:
    assert tokenize_texts(tokenizer, [text]) == [ids]


def test_special_token_ids_and_vocabulary_size(tokenizer) -> None:
    assert len(tokenizer) == 49408
    assert tokenizer.convert_tokens_to_ids(["<|startoftext|>", "<|endoftext|>", "!", ",</w>"]) == \
        [START_ID, END_ID, 0, COMMA_ID]


def test_load_is_cached_per_folder(tokenizer) -> None:
    assert load_clip_tokenizer(CLIP_TOKENIZER_DIR) is tokenizer


def test_missing_folder_names_the_fix(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="build_clip_tokenizer.py"):
        load_clip_tokenizer(tmp_path)


@pytest.mark.parametrize(("raw", "clean"), [
    ("fish &amp; chips", "fish & chips"),
    ("&amp;amp;", "&"),  # unescaped twice, as the original CLIP cleaning does
    ("  a \n\t b  ", "a b"),
    ("“quoted”", '"quoted"'),  # ftfy straightens curly quotes
    ("ｆｕｌｌ", "full"),  # ftfy folds full-width letters
])
def test_clean_text(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


def test_cleaning_changes_the_ids_like_the_original_tokenizer(tokenizer) -> None:
    assert tokenize_texts(tokenizer, ["fish &amp; chips"]) == tokenize_texts(tokenizer, ["fish & chips"])
    raw_ids = tokenizer("fish &amp; chips", add_special_tokens=False).input_ids
    assert raw_ids != tokenize_texts(tokenizer, ["fish & chips"])[0]


def test_shipped_vocab_follows_the_build_rule_from_the_shipped_merges() -> None:
    lines = (CLIP_TOKENIZER_DIR / "merges.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("#version")
    merges = [tuple(line.split()) for line in lines[1:]]
    assert len(merges) == 48894
    vocab = json.loads((CLIP_TOKENIZER_DIR / "vocab.json").read_text(encoding="utf-8"))
    assert vocab == build_vocab(merges)
    assert vocab["!"] == 0 and vocab["<|endoftext|>"] == 49407


def test_byte_symbols_are_distinct_printable_and_in_clip_order() -> None:
    symbols = byte_symbols()
    assert len(set(symbols)) == 256
    assert symbols[:3] == ["!", '"', "#"] and symbols[-1] == chr(256 + 67)
    assert all(not s.isspace() for s in symbols)
