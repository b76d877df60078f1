"""The "12/75" counters beside the prompts: tokens used against the 75-token chunk limit.

The count is A1111's: 75 per full chunk plus the last chunk's length, against the next
multiple of 75, for the longest text any prompt-editing step or AND part produces
(`modules.text.chunking.count_tokens`), so users see when a prompt spills into another chunk.
"""

from __future__ import annotations

import html
import logging
from typing import Any

log = logging.getLogger(__name__)

CHUNK = 75


def counter_text(count: int, limit: int) -> str:
    over = ' class="over"' if count > CHUNK else ""
    return f"<span{over}>{count}/{limit}</span>"


def count_prompt_tokens(runtime: Any, text: str, steps: int, is_positive: bool) -> tuple[int, int]:
    """(tokens, target) as the text encoder will see the prompt (lazy import: the tokenizer is heavy)."""
    from modules.text.chunking import count_tokens

    settings = runtime.settings
    return count_tokens(text, steps=max(int(steps or 1), 1), is_positive=is_positive,
                        comma_padding_backtrack=int(settings.get("comma_padding_backtrack", 20)),
                        emphasis=str(settings.get("emphasis", "Original")))


def token_counter_html(runtime: Any, text: str, steps: Any = 20, is_positive: bool = True) -> str:
    """Counter HTML for `text`; if counting fails the counter says so instead of breaking typing."""
    try:
        count, target = count_prompt_tokens(runtime, text or "", steps, is_positive)
    except Exception as e:  # noqa: BLE001 - a counter must never break the prompt box
        log.debug("token count failed: %s", e)
        return f'<span class="error" title="{html.escape(str(e))}">?/{CHUNK}</span>'
    return counter_text(count, target)
