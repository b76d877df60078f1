"""Card pages of extension extra-network types in the card browser (beside Checkpoints, Lora, ...).

Why a list function instead of a folder: an extension's networks may live anywhere (its own
folder, a download cache), so the type lists its items itself — name, the tag a click inserts,
a description and a local preview image. Previews are served only for files the page listed
(never a path from the request), and the cards are read-only (no `name.json` editor).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
_JS_PART = re.compile(r'"(?:[^"\\]|\\.)*"|opts\.extra_networks_default_multiplier')


@dataclass(frozen=True)
class CardPage:
    """One page: `items()` returns dicts with `name` and optional `prompt`, `description`, `preview`."""

    page_id: str
    title: str
    owner: str
    tag: str  # the extra-network type whose default prompt `<tag:name:weight>` a card inserts
    items: Callable[[], list[dict[str, Any]]]


def prompt_text(value: Any, weight: float) -> str:
    """A card's prompt: plain text, or A1111's JavaScript form (`"<x:" + opts.extra_networks_default_multiplier
    + ">"`, quoted strings joined with the default weight) turned into the text it stands for."""
    text = str(value)
    if not text.startswith('"'):
        return text
    parts = []
    for part in _JS_PART.findall(text):
        parts.append(f"{weight:g}" if part.startswith("opts.") else json.loads(part))
    return "".join(parts)


def _preview(item: dict[str, Any]) -> Path | None:
    for key in ("local_preview", "preview"):
        value = item.get(key)
        if not value or not isinstance(value, (str, Path)):
            continue
        path = Path(value)
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            return path
    return None


def page_cards(page: CardPage, weight: float) -> list[dict[str, Any]]:
    """The page's items as the card browser's card dicts (the fields cards.py gives file cards)."""
    out = []
    for item in page.items():
        name = str(item["name"])
        prompt = prompt_text(item["prompt"], weight) if item.get("prompt") else f"<{page.tag}:{name}:{weight:g}>"
        description = str(item.get("description") or "")
        out.append({"name": name, "prompt": prompt, "folder": "", "path": name, "mtime": 0, "size": 0,
                    "preview": name if _preview(item) is not None else None, "description": description,
                    "user_metadata": {}, "readonly": True,
                    "search": f"{name} {description} {item.get('search_terms') or ''}".lower()})
    return out


def page_preview(page: CardPage, name: str) -> Path | None:
    """The preview file of the item `name` as the page lists it now (None when it has none)."""
    for item in page.items():
        if str(item.get("name")) == name:
            return _preview(item)
    return None
