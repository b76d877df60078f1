"""Checking a setting's value against its schema: type, choices, range, list items, finite
numbers, length. Used on every write (API, UI, override_settings: a 422 naming the key and what
it accepts) and on every load (a bad stored value falls back to its default with a warning).

Once `quicksettings_list: [{"a": 1}]` was stored and the next start crashed, and
`CLIP_stop_at_last_layers: 1e30` made every later generation fail; a value that passes here
is one the rest of the program can use.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from modules.settings.schema import OptionInfo

MAX_TEXT_CHARS = 4096  # longest text setting (paths, patterns, names)
MAX_LIST_ITEMS = 512
IMAGE_FORMAT_KEYS = ("samples_format", "grid_format")
IMAGE_FORMATS = ("png", "jpg", "jpeg", "webp", "avif", "gif")
FILENAME_PATTERN_KEYS = ("samples_filename_pattern",)
DIRECTORY_PATTERN_KEYS = ("directories_filename_pattern",)

# Extra checks the schema cannot express, added by whoever knows the answer (the runtime adds
# "at least one sampler stays visible" and "output folders stay inside the data folder").
Check = Callable[[Any], None]


class SettingsError(ValueError):
    """A setting got a value it cannot take; the message names the key and the fix."""


def _fail(key: str, expected: str, value: Any) -> SettingsError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return SettingsError(f"setting {key!r} expects {expected}, got {shown}")


def _number(key: str, info: OptionInfo, value: Any, integer: bool) -> int | float:
    kind = "int (a whole number)" if integer else "float (a number)"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _fail(key, kind, value)
    try:
        number = float(value)
    except ValueError as e:
        raise _fail(key, kind, value) from e
    if not math.isfinite(number):
        raise _fail(key, f"{kind}, finite (not NaN or infinity)", value)
    lo, hi = info.minimum, info.maximum
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        raise _fail(key, f"{kind} from {lo} to {hi}", value)
    if integer:
        if number != int(number):
            raise _fail(key, kind, value)
        return int(number)
    return number


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    raise _fail(key, "true or false", value)


def _text(key: str, info: OptionInfo, value: Any) -> str:
    if not isinstance(value, str):
        raise _fail(key, "text", value)
    if len(value) > MAX_TEXT_CHARS:
        raise _fail(key, f"text of at most {MAX_TEXT_CHARS} characters", value)
    if info.choices and value not in info.choices:
        raise _fail(key, f"one of {list(info.choices)}", value)
    if key in IMAGE_FORMAT_KEYS and value.lower().lstrip(".") not in IMAGE_FORMATS:
        raise _fail(key, f"one of {list(IMAGE_FORMATS)}", value)
    if key in FILENAME_PATTERN_KEYS and any(c in value for c in "/\\"):
        raise _fail(key, "a file name pattern without / or \\ (folders come from the output "
                         "directory settings and 'directories_filename_pattern')", value)
    if key in DIRECTORY_PATTERN_KEYS and _escapes(value):
        raise _fail(key, "a relative folder pattern without '..' parts", value)
    return value


def _escapes(pattern: str) -> bool:
    parts = pattern.replace("\\", "/").split("/")
    return pattern.startswith(("/", "\\")) or any(p.strip() == ".." for p in parts) or ":" in parts[0]


def _list(key: str, info: OptionInfo, value: Any) -> list[str]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list | tuple) or len(value) > MAX_LIST_ITEMS:
        raise _fail(key, f"a list of at most {MAX_LIST_ITEMS} names", value)
    for item in value:
        if not isinstance(item, str) or len(item) > MAX_TEXT_CHARS:
            raise _fail(key, "a list of names (text)", value)
        if info.choices and item not in info.choices:
            raise _fail(key, f"a list of items from {list(info.choices)}", value)
    return list(value)


def check_value(key: str, info: OptionInfo, value: Any, extra: dict[str, Check] | None = None) -> Any:
    """The value converted to the option's type, or SettingsError naming key and allowed values."""
    default = info.default
    if value is None and default is None:
        return None
    if default is None:  # sd_model_checkpoint and friends: a name
        clean: Any = _text(key, info, value)
    elif isinstance(default, bool):
        clean = _bool(key, value)
    elif isinstance(default, int):
        fractional = info.step is not None and float(info.step) % 1 != 0
        clean = _number(key, info, value, integer=not fractional)
    elif isinstance(default, float):
        clean = _number(key, info, value, integer=False)
    elif isinstance(default, str):
        clean = _text(key, info, value)
    elif isinstance(default, list):
        clean = _list(key, info, value)
    else:
        clean = value
    check = (extra or {}).get(key)
    if check is not None:
        check(clean)
    return clean
