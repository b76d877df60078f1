"""Build the offline CLIP tokenizer folder (configs/clip-tokenizer/) from the BPE merges file.

Why: nothing here may reach a model hub, yet every Stable Diffusion text encoder needs the exact
CLIP token ids. The original BPE merges list ships inside the `open_clip_torch` wheel as
`open_clip/bpe_simple_vocab_16e6.txt.gz`; the CLIP vocabulary follows from it by a fixed rule,
so we derive `vocab.json` + `merges.txt` once and commit them. open_clip is NOT a dependency:
get the wheel with `pip download --no-deps open_clip_torch==3.3.0 -d /tmp/oc`.

Usage:
    python tools/build_clip_tokenizer.py /tmp/oc/open_clip_torch-3.3.0-py3-none-any.whl
    python tools/build_clip_tokenizer.py path/to/bpe_simple_vocab_16e6.txt.gz [--out DIR]
"""

from __future__ import annotations

import argparse
import gzip
import json
import zipfile
from pathlib import Path

MERGES_IN_VOCAB = 48894  # 49408 - 256 bytes - 256 byte</w> - 2 specials
START_TOKEN = "<|startoftext|>"
END_TOKEN = "<|endoftext|>"
WHEEL_MEMBER = "open_clip/bpe_simple_vocab_16e6.txt.gz"
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "configs" / "clip-tokenizer"


def byte_symbols() -> list[str]:
    """The 256 printable stand-ins for bytes used by byte-level BPE (GPT-2/CLIP convention), in
    CLIP's vocabulary order.

    Printable Latin-1 bytes map to themselves and come first (so id 0 is "!"); the other bytes
    follow in byte order, shifted to code points from 256 up, so every byte has a visible,
    whitespace-free symbol.
    """
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in set(keep)]
    return [chr(b) for b in keep] + [chr(256 + i) for i in range(len(others))]


def read_merges(source: Path) -> list[tuple[str, str]]:
    """The first MERGES_IN_VOCAB merges from the .gz file or from inside the open_clip wheel."""
    if source.suffix == ".whl":
        with zipfile.ZipFile(source) as wheel:
            raw = gzip.decompress(wheel.read(WHEEL_MEMBER))
    else:
        raw = gzip.decompress(source.read_bytes())
    lines = raw.decode("utf-8").split("\n")[1 : MERGES_IN_VOCAB + 1]  # line 0 is a version header
    merges = [tuple(line.split()) for line in lines]
    if len(merges) != MERGES_IN_VOCAB or any(len(m) != 2 for m in merges):
        raise ValueError(f"{source} does not look like CLIP's bpe_simple_vocab_16e6.txt.gz")
    return merges  # type: ignore[return-value]


def build_vocab(merges: list[tuple[str, str]]) -> dict[str, int]:
    """CLIP's vocabulary order: bytes, bytes + </w>, merged pairs, then the two special tokens."""
    symbols = byte_symbols()
    tokens = [*symbols, *(s + "</w>" for s in symbols), *("".join(m) for m in merges), START_TOKEN, END_TOKEN]
    return {token: index for index, token in enumerate(tokens)}


def tokenizer_config() -> dict[str, object]:
    return {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": 77,
        "do_lower_case": True,
        "errors": "replace",
        "add_prefix_space": False,
        "bos_token": START_TOKEN,
        "eos_token": END_TOKEN,
        "unk_token": END_TOKEN,
        "pad_token": END_TOKEN,
    }


def special_tokens_map() -> dict[str, str]:
    return {"bos_token": START_TOKEN, "eos_token": END_TOKEN, "unk_token": END_TOKEN, "pad_token": END_TOKEN}


def write_folder(merges: list[tuple[str, str]], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    vocab = build_vocab(merges)
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merge_lines = ["#version: 0.2", *(" ".join(m) for m in merges)]
    (out / "merges.txt").write_text("\n".join(merge_lines) + "\n", encoding="utf-8")
    for name, content in (("tokenizer_config.json", tokenizer_config()),
                          ("special_tokens_map.json", special_tokens_map())):
        (out / name).write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="open_clip_torch wheel or bpe_simple_vocab_16e6.txt.gz")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="default: configs/clip-tokenizer")
    args = parser.parse_args(argv)
    merges = read_merges(args.source)
    write_folder(merges, args.out)
    print(f"wrote {len(merges) + 514} tokens to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
