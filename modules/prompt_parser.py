"""A1111's prompt language: attention weights, BREAK, prompt editing, alternation and AND.

Pure functions with A1111's public names and results, so that prompts written for A1111 give
the same schedules, weights and sub-prompts here. The model-facing half (encoding each
scheduled text) lives in modules/text/conditioning.py and the per-step reconstruction of the
conditioning in modules/text/scheduled_cond.py; this module only parses.

Example (steps=100), the classic one from A1111's own module comment:

>>> prompt = ("fantasy landscape with a [mountain:lake:0.25] and [an oak:a christmas tree:0.75]"
...           "[ in foreground::0.6][: in background:0.25] [shoddy:masterful:0.5]")
>>> for end, text in get_learned_conditioning_prompt_schedules([prompt], 100)[0]:
...     print(end, text)
25 fantasy landscape with a mountain and an oak in foreground shoddy
50 fantasy landscape with a lake and an oak in foreground in background shoddy
60 fantasy landscape with a lake and an oak in foreground in background masterful
75 fantasy landscape with a lake and an oak in background masterful
100 fantasy landscape with a lake and a christmas tree in background masterful
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any, NamedTuple

from modules.parsing.breaks import split_on_break
from modules.parsing.schedule_grammar import Alternation, Edit, Sequence, parse_schedule
from modules.parsing.weighted_pieces import WeightedPieces

# Attention tokens, in priority order: escapes, a lone backslash (dropped), brackets, a weight
# closing a round bracket, closers, plain runs, and a lone colon.
_ATTENTION_TOKENS = re.compile(
    r"\\\(|\\\)|\\\[|\\\]|\\\\|\\|\(|\[|:\s*([+-]?[.\d]+)\s*\)|\)|\]|[^\\()\[\]:]+|:"
)
_AND = re.compile(r"\bAND\b")
# The weight after the last colon of an AND part: `cat :1.5` (A1111's pattern, anchored to the
# last colon so that it is tried once instead of at every position: linear time).
_SUBPROMPT_WEIGHT = re.compile(r"\s*([-+]?(?:\d+\.?|\d*\.\d+))\s*")
ROUND_MULTIPLIER = 1.1
SQUARE_MULTIPLIER = 1 / 1.1

ScheduleEntry = list  # [end_at_step: int, text: str]


# ---------------------------------------------------------------------------------------------
# Attention: (x), [x], (x:w), escapes and BREAK


def parse_prompt_attention(text: str) -> list[list[Any]]:
    """Split text into `[fragment, weight]` pairs; BREAK gives `["BREAK", -1]`.

    >>> parse_prompt_attention("a (b:1.5) [c]")
    [['a ', 1.0], ['b', 1.5], [' ', 1.0], ['c', 0.9090909090909091]]
    >>> parse_prompt_attention(r"\\(literal\\] (open")
    [['(literal] ', 1.0], ['open', 1.1]]
    """
    res = WeightedPieces()
    round_open: list[int] = []
    square_open: list[int] = []
    for match in _ATTENTION_TOKENS.finditer(text):
        token, weight = match.group(0), _as_float(match.group(1))
        if token.startswith("\\"):
            res.append(token[1:])
        elif token == "(":
            round_open.append(len(res))
        elif token == "[":
            square_open.append(len(res))
        elif weight is not None and round_open:
            res.scale_from(round_open.pop(), weight)
        elif token == ")" and round_open:
            res.scale_from(round_open.pop(), ROUND_MULTIPLIER)
        elif token == "]" and square_open:
            res.scale_from(square_open.pop(), SQUARE_MULTIPLIER)
        else:
            _append_with_breaks(res, token)
    for start in round_open:  # unbalanced openers act as if closed at the end
        res.scale_from(start, ROUND_MULTIPLIER)
    for start in square_open:
        res.scale_from(start, SQUARE_MULTIPLIER)
    return _merge_equal_weights(res.items() or [["", 1.0]])


def _as_float(text: str | None) -> float | None:
    """The weight of `:w)`; text such as `1.2.3` is not a number and stays plain text
    (A1111 raises ValueError there)."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _append_with_breaks(res: WeightedPieces, text: str) -> None:
    if "BREAK" not in text:  # the common case, without a regex call per piece
        res.append(text)
        return
    for i, part in enumerate(split_on_break(text)):
        if i > 0:
            res.append("BREAK", -1)
        res.append(part)


def _merge_equal_weights(res: list[list[Any]]) -> list[list[Any]]:
    """Join neighbours of equal weight (texts collected, then joined once: `+=` on a list item
    copies the growing text each time, quadratic for a long run of one-character pieces)."""
    merged: list[tuple[list[str], Any]] = []
    for text, weight in res:
        if merged and merged[-1][1] == weight:
            merged[-1][0].append(text)
        else:
            merged.append(([text], weight))
    return [["".join(texts), weight] for texts, weight in merged]


# ---------------------------------------------------------------------------------------------
# Prompt editing and alternation


class _Timing(NamedTuple):
    """How `when` numbers map to steps (A1111 1.6+ rules, or the old ones)."""

    steps: int
    int_offset: int
    float_offset: float
    old: bool

    def resolve(self, number: str) -> int:
        value = float(number)
        if self.old:
            value = value * self.steps if value < 1 else value
        elif "." in number:
            value = (value - self.float_offset) * self.steps
        else:
            value = value - self.int_offset
        return int(max(-1.0, min(float(self.steps), value)))  # clamped first: 1e999 must not overflow int()


def _timing(base_steps: int, hires_steps: int | None, use_old_scheduling: bool) -> _Timing:
    if hires_steps is None or use_old_scheduling:
        return _Timing(base_steps, 0, 0.0, use_old_scheduling)
    return _Timing(hires_steps, base_steps, 1.0, False)


def _nodes(pieces: Sequence) -> Iterator[Edit | Alternation]:
    """Every edit and alternation, nested ones included (iteratively: nesting may be deep)."""
    stack = [pieces]
    while stack:
        for piece in stack.pop():
            if isinstance(piece, Edit):
                yield piece
                stack += [part for part in (piece.before, piece.after) if isinstance(part, list)]
            elif isinstance(piece, Alternation):
                yield piece
                stack += [option for option in piece.options if isinstance(option, list)]


def _switch_steps(pieces: Sequence, timing: _Timing) -> tuple[list[int], dict[int, int]]:
    """The steps at which the text changes, and each edit's `when` (keyed by node id)."""
    ends = {timing.steps}
    whens: dict[int, int] = {}
    for node in _nodes(pieces):
        if isinstance(node, Edit):
            whens[id(node)] = when = timing.resolve(node.when)
            if when >= 1:
                ends.add(when)
        else:
            ends.update(range(1, timing.steps + 1))
    return sorted(ends), whens


def _render(pieces: Sequence | str | None, step: int, whens: dict[int, int]) -> str:
    """The prompt text in effect at `step` (1-based)."""
    if pieces is None:
        return ""
    if isinstance(pieces, str):
        return pieces
    out = []
    for piece in pieces:
        if isinstance(piece, str):
            out.append(piece)
        elif isinstance(piece, Edit):
            out.append(_render(piece.before if step <= whens[id(piece)] else piece.after, step, whens))
        else:
            out.append(_render(piece.options[(step - 1) % len(piece.options)], step, whens))
    return "".join(out)


@functools.lru_cache(maxsize=256)
def _parse_schedule(prompt: str) -> Sequence | None:
    """The parsed prompt (read-only, shared), or None when it is to be used literally.

    Cached because the UI token counter and every batch ask again for the same text.
    """
    return parse_schedule(prompt)


def _schedule_of(prompt: str, timing: _Timing) -> list[ScheduleEntry]:
    if "[" not in prompt:  # no edit or alternation possible: the text is used as written
        return [[timing.steps, prompt]]
    pieces = _parse_schedule(prompt)
    if pieces is None:
        return [[timing.steps, prompt]]
    ends, whens = _switch_steps(pieces, timing)
    return [[end, _render(pieces, end, whens)] for end in ends]


def get_learned_conditioning_prompt_schedules(
    prompts: list[str], base_steps: int, hires_steps: int | None = None, use_old_scheduling: bool = False,
) -> list[list[ScheduleEntry]]:
    """For each prompt, `[[end_at_step, text], ...]`: the text to use up to and including each step.

    `when` in `[from:to:when]`: a number with a decimal point is a fraction of the steps, an
    integer an absolute step. With `hires_steps` (the hires pass) fractions 1-2 and integers
    above `base_steps` address that pass. `use_old_scheduling`: below 1 a fraction, else a step.

    >>> get_learned_conditioning_prompt_schedules(["a [b:c:2]", "[x|y]"], 3)
    [[[2, 'a b'], [3, 'a c']], [[1, 'x'], [2, 'y'], [3, 'x']]]
    """
    timing = _timing(base_steps, hires_steps, use_old_scheduling)
    by_prompt = {prompt: _schedule_of(prompt, timing) for prompt in set(prompts)}
    return [[list(entry) for entry in by_prompt[prompt]] for prompt in prompts]


# ---------------------------------------------------------------------------------------------
# Composable diffusion: AND with :weight


MulticondIndexes = list[list[tuple[int, float]]]


def get_multicond_prompt_list(prompts: list[str]) -> tuple[MulticondIndexes, list[str], dict[str, int]]:
    """Split each prompt on `AND`; returns per prompt `[(flat_index, weight)]`, the distinct
    sub-prompt texts, and text -> flat index.

    >>> get_multicond_prompt_list(["a cat AND a dog :0.5 AND (sky:1.2):-0.3"])[:2]
    ([[(0, 1.0), (1, 0.5), (2, -0.3)]], ['a cat', ' a dog', ' (sky:1.2)'])
    """
    res_indexes: MulticondIndexes = []
    flat: list[str] = []
    index_of: dict[str, int] = {}
    for prompt in prompts:
        indexes = []
        for subprompt in _AND.split(prompt):
            text, weight = _split_weight(subprompt)
            if text not in index_of:
                index_of[text] = len(flat)
                flat.append(text)
            indexes.append((index_of[text], weight))
        res_indexes.append(indexes)
    return res_indexes, flat, index_of


def _split_weight(subprompt: str) -> tuple[str, float]:
    colon = subprompt.rfind(":")
    if colon >= 0 and (match := _SUBPROMPT_WEIGHT.fullmatch(subprompt, colon + 1)) is not None:
        return subprompt[:colon].rstrip(), float(match.group(1))
    return subprompt.rstrip(), 1.0


# ---------------------------------------------------------------------------------------------
