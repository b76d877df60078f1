"""How much prompt text one request may carry.

A 50 MB prompt once ran for 25 minutes at 7.8 GB of memory: tokenising, parsing brackets and
encoding all grow with the text, and none of it is useful past a few thousand tokens (CLIP sees
75 at a time). The limit is the `prompt_max_chars` setting; the default leaves room for the
longest real prompts (a 75-token chunk is ~300 characters, so ~200 chunks).
"""

from __future__ import annotations

DEFAULT_PROMPT_MAX_CHARS = 65536
SETTING = "prompt_max_chars"


class PromptTooLongError(ValueError):
    """A prompt over the limit; the message names the field, its length, the limit and the setting."""


def check_prompt_length(text: str | None, field: str, limit: int) -> None:
    if text is not None and limit > 0 and len(text) > limit:
        raise PromptTooLongError(f"{field} is {len(text)} characters long; the limit is {limit} "
                                 f"(setting '{SETTING}'): shorten it")
