"""Extra-network tags in prompts: `<lora:name:0.8>`, `<hypernet:name:1>`, `<lyco:...>`, ...

Why: A1111 users switch LoRAs and similar networks from the prompt text. The tags are removed
before the text is encoded and handed, grouped by network type, to whoever registered that
type. The registry is an object the runtime owns (no global table); an unknown type is reported
back as a warning instead of being dropped silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

EXTRA_NETWORK_TAG = re.compile(r"<(\w+):([^>]+)>")  # the grammar; matched by find_tags in linear time
_TAG_START = re.compile(r"<(\w++):")


@dataclass
class ExtraNetworkParams:
    """The `:`-separated items of one tag; `name=value` items are also offered as `named`.

    `<lora:detail:0.8:te=1>` -> items ["detail", "0.8", "te=1"], positional ["detail", "0.8"],
    named {"te": "1"}.
    """

    items: list[str] = field(default_factory=list)

    @property
    def positional(self) -> list[str]:
        return [item for item in self.items if len(item.split("=", 2)) != 2]

    @property
    def named(self) -> dict[str, str]:
        pairs = [item.split("=", 2) for item in self.items]
        return {p[0]: p[1] for p in pairs if len(p) == 2}


ExtraNetworkData = dict[str, list[ExtraNetworkParams]]


def parse_prompt_extra_networks(prompt: str) -> tuple[str, ExtraNetworkData]:
    """Remove the tags; returns the clean prompt and `{network type: [params, ...]}` in order.

    >>> parse_prompt_extra_networks("a cat <lora:fluffy:0.8>, <hypernet:x:1>")
    ('a cat , ', {'lora': [ExtraNetworkParams(items=['fluffy', '0.8'])], \
'hypernet': [ExtraNetworkParams(items=['x', '1'])]})
    """
    found: ExtraNetworkData = {}
    kept, pos = [], 0
    for start, end, kind, value in find_tags(prompt):
        found.setdefault(kind, []).append(ExtraNetworkParams(items=value.split(":")))
        kept.append(prompt[pos:start])
        pos = end
    kept.append(prompt[pos:])
    return "".join(kept), found


def find_tags(text: str) -> list[tuple[int, int, str, str]]:
    """(start, end, type, value) of each `EXTRA_NETWORK_TAG` match, as `finditer` finds them.

    The regex rescans to the end of the text from every `<x:` when no `>` follows (quadratic on
    pasted junk); here the next `>` is looked up once and reused by every tag before it.
    """
    tags: list[tuple[int, int, str, str]] = []
    pos, close = 0, -1
    while (m := _TAG_START.search(text, pos)) is not None:
        if close < m.end():
            close = text.find(">", m.end())
            if close < 0:
                break
        if close == m.end():  # `<lora:>`: the value needs a character; go on after the `<`
            pos = m.start() + 1
            continue
        tags.append((m.start(), close + 1, m.group(1), text[m.end():close]))
        pos = close + 1
    return tags


def parse_prompts_extra_networks(prompts: list[str]) -> tuple[list[str], ExtraNetworkData]:
    """Clean every prompt of a batch; the networks come from the first prompt (as in A1111,
    where one batch shares one set of active networks)."""
    cleaned, first = [], None
    for prompt in prompts:
        text, data = parse_prompt_extra_networks(prompt)
        cleaned.append(text)
        if first is None:
            first = data
    return cleaned, first or {}


class ExtraNetworkHandler(Protocol):
    """A network type (LoRA, hypernetwork, ...). `activate` gets every tag of its type in the
    prompt (an empty list when there are none, so it can undo earlier state); `context` is
    whatever the engine passes (the job state)."""

    def activate(self, params_list: list[ExtraNetworkParams], context: Any) -> None: ...

    def deactivate(self, context: Any) -> None: ...


class ExtraNetworkRegistry:
    """Network types by tag name (aliases such as "lyco" may share a handler)."""

    def __init__(self) -> None:
        self._handlers: dict[str, ExtraNetworkHandler] = {}

    def register(self, name: str, handler: ExtraNetworkHandler, aliases: tuple[str, ...] = ()) -> None:
        for key in (name, *aliases):
            if key in self._handlers and self._handlers[key] is not handler:
                raise ValueError(f"extra network type {key!r} is already registered by another handler")
            self._handlers[key] = handler

    def unregister(self, name: str) -> None:
        self._handlers.pop(name, None)

    def names(self) -> list[str]:
        return sorted(self._handlers)

    def get(self, name: str) -> ExtraNetworkHandler | None:
        return self._handlers.get(name)

    def _unique_handlers(self) -> list[ExtraNetworkHandler]:
        unique: list[ExtraNetworkHandler] = []
        for handler in self._handlers.values():
            if all(handler is not h for h in unique):
                unique.append(handler)
        return unique

    def activate(self, data: ExtraNetworkData, context: Any) -> list[str]:
        """Activate each registered type with its tags; returns warnings (unknown types,
        handler failures) for the job's log/infotext instead of raising."""
        warnings: list[str] = []
        grouped: dict[int, list[ExtraNetworkParams]] = {}
        for name, params in data.items():
            handler = self._handlers.get(name)
            if handler is None:
                known = ", ".join(self.names()) or "none registered"
                warnings.append(f"unknown extra network type <{name}:...> ignored (known: {known})")
                continue
            grouped.setdefault(id(handler), []).extend(params)
        for handler in self._unique_handlers():
            try:
                handler.activate(grouped.get(id(handler), []), context)
            except Exception as exc:  # one broken network must not stop the job
                warnings.append(f"activating extra network {type(handler).__name__} failed: {exc}")
        return warnings

    def deactivate(self, context: Any) -> list[str]:
        warnings: list[str] = []
        for handler in self._unique_handlers():
            try:
                handler.deactivate(context)
            except Exception as exc:
                warnings.append(f"deactivating extra network {type(handler).__name__} failed: {exc}")
        return warnings
