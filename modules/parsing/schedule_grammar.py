"""Prompt editing (`[from:to:when]`) and alternation (`[a|b]`), parsed in linear time.

A1111 parses this language with lark's Earley parser, whose time grows steeply with the number
of brackets (80 edits in a 1 KB prompt took ~30 s). The language is simple enough for a
recursive-descent parser with one look-ahead decision per bracket:

* inside a bracket every `(`/`[` must be closed, `:` only separates the parts of `(a:b)` and of
  an edit, `|` only separates alternatives, and a failure anywhere fails the whole bracket;
* at the top level a bracket that does not parse is a literal `[`/`(` (one character), after
  which parsing goes on just behind it; a stray `]`, `)` or `:` is literal text;
* a `|` outside any alternation, or a backslash before a line break or at the end, makes the
  whole prompt literal (A1111's parse error fallback).

Each bracket's result is remembered by its position, so a prompt full of unclosed brackets
(`[a[a[a...`) costs linear time instead of re-reading the rest of the prompt per bracket.
The grammar this reproduces is kept in tests/test_prompt_schedule_parser.py, where thousands
of random prompts are compared with lark's parse of it.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# Nesting beyond this is used literally, as A1111 does when its parser runs out of stack
# (it gave up between 150 and 200 levels).
MAX_DEPTH = 150

_PLAIN = re.compile(r"(?:[^\\\[\]():|]|\\.)+")
# lark's SIGNED_NUMBER, same alternatives in the same order (the first that matches wins).
_NUMBER = re.compile(r"[+-]?(?:\d+[eE][+-]?\d+|(?:\d+\.(?:\d+)?|\.\d+)(?:[eE][+-]?\d+)?|\d+)")
_SPACE = re.compile(r"\s*")
# Fast paths for brackets with no bracket inside (the common case), one regex call each;
# they give what the general parser gives for the same text.
_TEXT = r"(?:[^\\\[\]():|]|\\.)*"
_SIMPLE_EDIT = re.compile(rf"\[({_TEXT})(?::({_TEXT}))?:\s*({_NUMBER.pattern})\s*\]")
_SIMPLE_ALTERNATION = re.compile(r"\[[^\\\[\]():|]*(?:\|[^\\\[\]():|]*)+\]")
_SIMPLE_EMPHASIS = re.compile(rf"\[{_TEXT}\]|\({_TEXT}(?::{_TEXT})?\)")
# One token of the top level: text (a stray `]`, `)` or `:` is text there) or a simple emphasis, a simple edit, a
# simple alternation; anything else (nested brackets, strays) goes through the general parser.
_TOP_TOKEN = re.compile(
    rf"(?P<text>(?:[^\\\[(|]|\\.)+|{_SIMPLE_EMPHASIS.pattern})"
    rf"|\[(?P<first>{_TEXT})(?::(?P<second>{_TEXT}))?:\s*(?P<when>{_NUMBER.pattern})\s*\]"
    rf"|(?P<alternation>{_SIMPLE_ALTERNATION.pattern})"
)
_TOP_LITERAL = "[]():"


class Edit(NamedTuple):
    """`[before:after:when]`; `before` is None for `[after:when]`."""

    before: Sequence | str | None  # a plain str when there is no bracket inside (fewer objects)
    after: Sequence | str
    when: str


class Alternation(NamedTuple):
    """`[a|b|...]`: option (step - 1) % len(options) is used at each step."""

    options: tuple[Sequence | str, ...]


Piece = str | Edit | Alternation
Sequence = list[Piece]


class _TooDeep(Exception):
    """Nesting beyond MAX_DEPTH: the prompt is used literally."""


class _Parser:
    """One prompt's parse; `_brackets` remembers each bracket's result by its position."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._brackets: dict[int, tuple[Sequence, int] | None] = {}

    def top(self) -> Sequence | None:
        text, pos, out = self.text, 0, []
        while pos < len(text):
            if (token := _TOP_TOKEN.match(text, pos)) is not None:
                out.append(_token_piece(token))
                pos = token.end()
                continue
            char = text[pos]
            if char in "[(" and (parsed := self.general_bracket(pos, 1)) is not None:
                out.extend(parsed[0])
                pos = parsed[1]
            elif char in _TOP_LITERAL:
                out.append(char)
                pos += 1
            elif (plain := _PLAIN.match(text, pos)) is not None:
                out.append(plain.group())
                pos = plain.end()
            else:  # `|` outside an alternation, or a dangling backslash
                return None
        return out

    def sequence(self, pos: int, depth: int) -> tuple[Sequence, int] | None:
        """Pieces up to the next `]`, `)`, `:`, `|` or the end; None when a bracket fails."""
        text, out = self.text, []
        while pos < len(text):
            char = text[pos]
            if char in "[(":
                parsed = self.bracket(pos, depth + 1)
                if parsed is None:
                    return None
                out.extend(parsed[0])
                pos = parsed[1]
            elif char in "]):|":
                break
            elif (plain := _PLAIN.match(text, pos)) is not None:
                out.append(plain.group())
                pos = plain.end()
            else:
                return None
        return out, pos

    def bracket(self, pos: int, depth: int) -> tuple[Sequence, int] | None:
        simple = _simple_bracket(self.text, pos)
        return simple if simple is not None else self.general_bracket(pos, depth)

    def general_bracket(self, pos: int, depth: int) -> tuple[Sequence, int] | None:
        """A bracket with brackets inside (or none that parses): remembered by position."""
        if pos not in self._brackets:
            if depth > MAX_DEPTH:
                raise _TooDeep
            parse = self._round if self.text[pos] == "(" else self._square
            self._brackets[pos] = parse(pos, depth)
        return self._brackets[pos]

    def _round(self, pos: int, depth: int) -> tuple[Sequence, int] | None:
        """`(a)` or `(a:b)`: kept as text, with any edits inside."""
        first = self.sequence(pos + 1, depth)
        if first is None:
            return None
        inner, end = first
        out: Sequence = ["(", *inner]
        if self._at(end, ":"):
            second = self.sequence(end + 1, depth)
            if second is None:
                return None
            out += [":", *second[0]]
            end = second[1]
        return (out + [")"], end + 1) if self._at(end, ")") else None

    def _square(self, pos: int, depth: int) -> tuple[Sequence, int] | None:
        first = self.sequence(pos + 1, depth)
        if first is None:
            return None
        inner, end = first
        if self._at(end, "]"):
            return ["[", *inner, "]"], end + 1
        if self._at(end, "|"):
            return self._alternation(inner, end, depth)
        if self._at(end, ":"):
            return self._edit(inner, end + 1, depth)
        return None

    def _alternation(self, first: Sequence, pos: int, depth: int) -> tuple[Sequence, int] | None:
        options = [first]
        while self._at(pos, "|"):
            parsed = self.sequence(pos + 1, depth)
            if parsed is None:
                return None
            options.append(parsed[0])
            pos = parsed[1]
        return ([Alternation(tuple(options))], pos + 1) if self._at(pos, "]") else None

    def _edit(self, first: Sequence, pos: int, depth: int) -> tuple[Sequence, int] | None:
        """After `[first:`: either `when]` or `second:when]`."""
        when = self._when(pos)
        if when is not None:
            return [Edit(None, first, when[0])], when[1]
        parsed = self.sequence(pos, depth)
        if parsed is None or not self._at(parsed[1], ":"):
            return None
        when = self._when(parsed[1] + 1)
        return ([Edit(first, parsed[0], when[0])], when[1]) if when is not None else None

    def _when(self, pos: int) -> tuple[str, int] | None:
        """` number ]` at pos: the number's text and the position after the `]`."""
        number = _NUMBER.match(self.text, _SPACE.match(self.text, pos).end())
        if number is None:
            return None
        close = _SPACE.match(self.text, number.end()).end()
        return (number.group(), close + 1) if self._at(close, "]") else None

    def _at(self, pos: int, char: str) -> bool:
        return pos < len(self.text) and self.text[pos] == char


def _token_piece(token: re.Match[str]) -> Piece:
    kind = token.lastgroup
    if kind == "text":
        return token.group()
    if kind == "alternation":
        return Alternation(tuple(token.group()[1:-1].split("|")))
    first, second, when = token.group("first", "second", "when")
    return Edit(None, first, when) if second is None else Edit(first, second, when)


def _simple_bracket(text: str, pos: int) -> tuple[Sequence, int] | None:
    """A bracket with no bracket inside, by one regex; None when it needs the general parser."""
    if (match := _SIMPLE_EMPHASIS.match(text, pos)) is not None:
        return [match.group()], match.end()
    if (match := _SIMPLE_EDIT.match(text, pos)) is not None:
        first, second, when = match.groups()
        edit = Edit(None, [first], when) if second is None else Edit([first], [second], when)
        return [edit], match.end()
    if (match := _SIMPLE_ALTERNATION.match(text, pos)) is not None:
        options = tuple([option] for option in match.group()[1:-1].split("|"))
        return [Alternation(options)], match.end()
    return None


def parse_schedule(text: str) -> Sequence | None:
    """The prompt as text pieces, edits and alternations; None when it is to be used literally."""
    try:
        return _Parser(text).top()
    except _TooDeep:
        return None
