"""Every parser that reads user text runs in linear time: 1 MB of adversarial text each.

Before this, the infotext reader took 22 s on `"Steps: 20, " + "A" * 65536` and never
returned on 5 MB, blocking the whole server. Each case here is timed in this thread's CPU
time (robust against a busy machine) and must stay well under a second; the old regexes
fail by the timeout. Small random texts check that the linear readers give exactly what
A1111's regexes give.
"""

from __future__ import annotations

import gc
import random
import re
import time
from collections.abc import Callable

import pytest

from modules.images.codec import decode_image_b64
from modules.images.filenames import FilenameContext, FilenameGenerator, split_tag_args
from modules.infotext import (
    MAX_INFOTEXT_CHARS,
    InfotextTooLongError,
    parse_generation_parameters,
    prompt_uses_emphasis,
)
from modules.models.registry import CheckpointRegistry
from modules.parsing.breaks import split_on_break
from modules.parsing.infotext_pairs import find_pairs
from modules.prompt_parser import (
    _split_weight,
    get_learned_conditioning_prompt_schedules,
    get_multicond_prompt_list,
    parse_prompt_attention,
)
from modules.styles import PromptStyle, StyleDatabase
from modules.text.extra_networks import EXTRA_NETWORK_TAG, find_tags, parse_prompt_extra_networks
from modules.text.prompt_limits import DEFAULT_PROMPT_MAX_CHARS, check_prompt_length

pytestmark = pytest.mark.timeout(120)

MB = 1 << 20
LIMIT_S = 0.8  # CPU seconds per 1 MB case; the linear readers need 0.01-0.3 s


def adversarial(n: int = MB) -> list[str]:
    """Texts that make backtracking regexes rescan: long runs, repeated openers, no closers."""
    units = ["A", " ", ":", "\t", "a:", "ab: ", ' kk: "a,', 'kk: "a\\"b, ', "\\", '"', "<a:", "<", "[", "[a",
             "(:", "( ", "[a:b:", "a, ", "-/ ", "1", "1.", ": 1", "<>", "BREAK ", " AND ", "\n",
             "[a:b:1]", "[a|b]", "[a:b:[", "[(", "][", "[a:1", "[[a:b:1]]", "[a:b:c]", "|"]
    texts = [(u * (n // len(u) + 1))[:n] for u in units]
    texts += ["Steps: 20, " + "A" * n, "(:" + " " * n + "x", " " * n + "x", "x" + " " * n + ":1.5x",
              "[" + "a" * n, "<lora:" + "x" * n]
    return texts


def cpu_time(fn: Callable[[str], object], text: str) -> float:
    """CPU time of one call, with the garbage collector paused: in the full suite the process holds
    models and tensors from earlier tests, and a full collection triggered by the reader's
    allocations (up to ~1 s there) measures that heap, not the reader."""
    gc.disable()
    start = time.thread_time()
    try:
        fn(text)
    except (ValueError, RecursionError):
        pass
    finally:
        elapsed = time.thread_time() - start
        gc.enable()
    return elapsed


def _filename(text: str) -> object:
    gen = FilenameGenerator(FilenameContext(seed=1, prompt=text, negative_prompt=text))
    return gen.apply(text) + gen.apply("[prompt_words]-[prompt]-[hasprompt<a|b>]-[prompt_no_styles]")


def _styles(text: str) -> object:
    db = StyleDatabase.__new__(StyleDatabase)
    db.styles = {f"s{i}": PromptStyle(f"s{i}", f"x{i}, {{prompt}}", "n") for i in range(20)}
    return db.extract_styles_from_prompt(text, text)


def _registry(text: str) -> object:
    return CheckpointRegistry(search_dirs=[], extra_files=[], hash_cache=None, demo_checkpoint=None,
                              hashing_enabled=False).find(text)


# Readers that may see text of any length.
READERS: dict[str, Callable[[str], object]] = {
    "infotext pairs": find_pairs,
    "infotext parse (refused over the cap)": parse_generation_parameters,
    "prompt (refused over the cap)": lambda t: check_prompt_length(t, "prompt", DEFAULT_PROMPT_MAX_CHARS),
    "BREAK split": split_on_break,
    "extra networks": parse_prompt_extra_networks,
    "filename patterns": _filename,
    "filename tag args": split_tag_args,
    "checkpoint lookup": _registry,
    "base64 image": decode_image_b64,
}


# Readers behind a length cap (infotext, prompt): linear too, fed texts as long as the cap allows.
CAPPED: dict[str, tuple[Callable[[str], object], int]] = {
    "infotext parse": (parse_generation_parameters, MAX_INFOTEXT_CHARS),
    "infotext emphasis": (prompt_uses_emphasis, MAX_INFOTEXT_CHARS),
    "prompt attention": (parse_prompt_attention, DEFAULT_PROMPT_MAX_CHARS),
    "prompt AND/weights": (lambda t: get_multicond_prompt_list([t]), DEFAULT_PROMPT_MAX_CHARS),
    "prompt editing/alternation": (lambda t: get_learned_conditioning_prompt_schedules([t], 20),
                                   DEFAULT_PROMPT_MAX_CHARS),
    "styles in prompt": (_styles, DEFAULT_PROMPT_MAX_CHARS),
}


@pytest.mark.parametrize("name", list(CAPPED))
def test_capped_reader_is_fast_at_its_cap(name: str) -> None:
    reader, cap = CAPPED[name]
    slow = [(t[:12], round(s, 2)) for t in adversarial(cap) if (s := cpu_time(reader, t)) > LIMIT_S]
    assert not slow, f"{name}: over {LIMIT_S} s CPU on {cap}-character inputs starting {slow}"


@pytest.mark.parametrize("name", list(READERS))
def test_reader_is_linear_on_adversarial_megabyte(name: str) -> None:
    reader = READERS[name]
    slow = [(t[:12], round(s, 2)) for t in adversarial() if (s := cpu_time(reader, t)) > LIMIT_S]
    assert not slow, f"{name}: over {LIMIT_S} s CPU on 1 MB inputs starting {slow}"


def test_infotext_over_the_cap_is_refused_with_the_limit() -> None:
    with pytest.raises(InfotextTooLongError, match=str(MAX_INFOTEXT_CHARS)):
        parse_generation_parameters("Steps: 20, " + "A" * (5 * MB))


def _random_texts(alphabet: list[str], count: int, longest: int) -> list[str]:
    rng = random.Random(19)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, longest))) for _ in range(count)]


def test_pairs_equal_a1111_regex() -> None:
    a1111 = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
    alphabet = ["a", "b", "1", "_", " ", "-", "/", ":", ",", '"', "\\", "\n", "\t", "é", ": ", "Steps: 20",
                ", ", '"a,b"', '\\"']
    for text in _random_texts(alphabet, 4000, 25):
        assert find_pairs(text) == a1111.findall(text), text


def test_break_split_equals_a1111_regex() -> None:
    a1111 = re.compile(r"\s*\bBREAK\b\s*", re.S)
    for text in _random_texts(["BREAK", " ", "\t", "\n", "a", "B", "REAK", "\u00a0", "_", "."], 3000, 12):
        assert split_on_break(text) == a1111.split(text), text


def test_subprompt_weight_equals_a1111_regex() -> None:
    a1111 = re.compile(r"^((?:\s|.)*?)(?:\s*:\s*([-+]?(?:\d+\.?|\d*\.\d+)))?\s*$")
    for text in _random_texts([":", " ", "\n", "1", ".", "5", "-", "+", "a", "\u00a0", "e"], 3000, 12):
        m = a1111.search(text)
        assert _split_weight(text) == (m.group(1), float(m.group(2)) if m.group(2) else 1.0), text


def test_extra_network_tags_equal_a1111_regex() -> None:
    for text in _random_texts(["<", ">", ":", "a", "lora", " ", "<a:", "\n"], 3000, 12):
        expected = [(m.start(), m.end(), m.group(1), m.group(2)) for m in EXTRA_NETWORK_TAG.finditer(text)]
        assert find_tags(text) == expected, text


def test_filename_tag_args_equal_a1111_regex() -> None:
    a1111 = re.compile(r"(.*)<([^>]*)>$", re.S)
    for text in _random_texts(["<", ">", "a", "%Y", "\n", "|"], 3000, 12):
        name, args = text, []
        while (m := a1111.match(name)) is not None:
            name, arg = m.groups()
            args.insert(0, arg)
        assert split_tag_args(text) == (name, args), text


def test_weighted_pieces_give_the_same_products_as_one_by_one() -> None:
    from modules.parsing.weighted_pieces import WeightedPieces

    rng = random.Random(7)
    for _ in range(300):
        fast, slow = WeightedPieces(), []
        for _ in range(rng.randint(0, 30)):
            if rng.random() < 0.5 or not slow:
                weight = rng.choice([1.0, -1, 1.0])
                fast.append("x", weight)
                slow.append(weight)
            else:
                start, factor = rng.randrange(len(slow) + 1), rng.choice([1.1, 1 / 1.1, 1.5, 0.0])
                fast.scale_from(start, factor)
                slow[start:] = [w * factor for w in slow[start:]]
        assert fast.weights() == slow
