"""Tool-button icons as SVG pictures, so they show on machines without an emoji font (where
A1111's emoji turn into empty boxes).

Each button keeps its emoji as text (tooltips, keyboard scripts and users' A1111 scripts find
buttons by it), hidden by style.css; the picture is drawn from `modules/ui/icons/<name>.svg`,
inlined into the page's CSS as a data URI so it needs no extra request and no font.
"""

from __future__ import annotations

import base64
from pathlib import Path

ICON_DIR = Path(__file__).with_name("icons")
# Emoji (as A1111 writes them) -> SVG file name. Variation selectors (U+FE0F) are ignored.
ICONS = {
    "🔄": "refresh", "🎲": "dice", "♻": "recycle", "🗑": "trash", "📋": "clipboard", "🖌": "brush",
    "📝": "memo", "📂": "folder", "💾": "floppy", "🗃": "cardbox", "🖼": "picture", "🎨": "palette",
    "📐": "ruler", "↙": "paste", "⇅": "swap",
}


def icon_name(text: str) -> str | None:
    """The SVG name for a button's emoji, or None for text that has none."""
    return ICONS.get(text.replace("\ufe0f", "").strip())


def icon_class(text: str) -> list[str]:
    """elem_classes that give a tool button its SVG icon."""
    name = icon_name(text)
    return ["sdui-icon", f"sdui-icon-{name}"] if name else []


def icons_css() -> str:
    """One rule per icon: the SVG as a data URI background of the button's ::before."""
    rules = []
    for name in sorted(set(ICONS.values())):
        data = base64.b64encode((ICON_DIR / f"{name}.svg").read_bytes()).decode("ascii")
        rules.append(f'.sdui-icon-{name}::before {{ background-image: url("data:image/svg+xml;base64,{data}"); }}')
    return "\n".join(rules)
