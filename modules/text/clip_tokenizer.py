"""The offline CLIP tokenizer and CLIP's text cleaning.

Why this exists: no hub may be reached, yet every Stable Diffusion text encoder needs the real
CLIP token ids. `configs/clip-tokenizer/` holds `vocab.json` + `merges.txt` derived from the BPE
file shipped in `open_clip_torch` (see tools/build_clip_tokenizer.py); transformers builds the
tokenizer from that folder. transformers' tokenizer only lower-cases and collapses whitespace,
while the original tokenizers also run ftfy (and, for OpenCLIP, HTML unescaping) first, so
callers run `clean_text` on the text before tokenizing to get identical ids.
"""

from __future__ import annotations

import functools
import html
import re
from pathlib import Path
from typing import Any

import ftfy

CLIP_TOKENIZER_DIR = Path(__file__).resolve().parents[2] / "configs" / "clip-tokenizer"
START_ID = 49406  # <|startoftext|>
END_ID = 49407  # <|endoftext|>
COMMA_ID = 267  # ",</w>"
OPEN_CLIP_PAD_ID = 0  # "!": OpenCLIP pads with it after the first end token
VOCAB_SIZE = 49408
MODEL_MAX_LENGTH = 77

_WHITESPACE = re.compile(r"\s+")
_REQUIRED_FILES = ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json")


def clean_text(text: str, unescape_html: bool = True) -> str:
    """CLIP's cleaning: ftfy repairs, HTML entities decoded twice, whitespace collapsed.

    `unescape_html=False` gives what A1111's CLIP-L path (transformers' slow tokenizer) does:
    ftfy only, which decodes entities itself unless the text contains a literal "<".
    """
    text = ftfy.fix_text(text)
    if unescape_html:
        text = html.unescape(html.unescape(text))
    return _WHITESPACE.sub(" ", text).strip()


@functools.lru_cache(maxsize=4)
def _load(folder: Path) -> Any:
    from transformers import CLIPTokenizer

    missing = [name for name in _REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"CLIP tokenizer files {missing} are missing from {folder}. Rebuild them with "
            "`python tools/build_clip_tokenizer.py <open_clip_torch wheel or bpe_simple_vocab_16e6.txt.gz>`.")
    tokenizer = CLIPTokenizer.from_pretrained(str(folder), model_max_length=MODEL_MAX_LENGTH)
    if len(tokenizer) != VOCAB_SIZE:
        raise ValueError(f"the CLIP tokenizer in {folder} has {len(tokenizer)} tokens instead of "
                         f"{VOCAB_SIZE}; rebuild it with tools/build_clip_tokenizer.py")
    return tokenizer


def load_clip_tokenizer(configs_dir: Path | None = None) -> Any:
    """A transformers `CLIPTokenizer` with the real CLIP vocabulary, built from local files only.

    `configs_dir` is the folder holding the tokenizer files (default: configs/clip-tokenizer).
    The result is cached per process; treat it as read-only.
    """
    return _load(Path(configs_dir or CLIP_TOKENIZER_DIR).resolve())


def tokenize_texts(tokenizer: Any, texts: list[str], unescape_html: bool = True) -> list[list[int]]:
    """Token ids of each text without start/end tokens and without truncation (for chunking)."""
    if not texts:
        return []
    cleaned = [clean_text(t, unescape_html) for t in texts]
    encoded = tokenizer(cleaned, truncation=False, add_special_tokens=False, verbose=False)
    return [list(ids) for ids in encoded["input_ids"]]
