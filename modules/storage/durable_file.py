"""Files the app rewrites while running (config.json, ui-config.json, styles.csv, the hash
cache): written so that no crash, kill -9 or concurrent write can leave them half-written, and
read so that a damaged file is moved aside, reported, and replaced by its last good copy.

Each write goes to a temporary file with a unique name in the same folder, is flushed to disk
(fsync) and then renamed over the target; the folder is synced so the rename itself survives a
power cut. Every successful write also leaves `<name>.bak`, the copy restored when the file is
found damaged at start-up. Callers serialise their own writes (one writer per file).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


def temp_prefix(path: Path) -> str:
    return f".{path.name}."


TEMP_SUFFIX = ".tmp"


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a folder be opened
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _replace_with(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def write_durably(path: Path, text: str, *, backup: bool = True, encoding: str = "utf-8") -> None:
    """Replace `path` with `text` atomically and durably; keep `<name>.bak` as the last good copy."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode(encoding)
    _replace_with(path, data)
    if backup:
        _replace_with(backup_path(path), data)


def remove_stale_temps(path: Path) -> list[Path]:
    """Delete temporary files an interrupted write of `path` left (ours and the older `name.tmp*`)."""
    removed = []
    if not path.parent.is_dir():
        return removed
    for entry in path.parent.iterdir():
        name = entry.name
        ours = name.startswith(temp_prefix(path)) and name.endswith(TEMP_SUFFIX)
        legacy = name.startswith(path.name + ".tmp")
        if (ours or legacy) and entry.is_file():
            with contextlib.suppress(OSError):
                entry.unlink()
                removed.append(entry)
    return removed


@dataclass
class Recovered(Generic[T]):
    """What `read_recovering` found: the value (None: use defaults) and what to tell the user."""

    value: T | None
    warnings: list[str] = field(default_factory=list)


def warn_everywhere(warnings: list[str]) -> None:
    """A damaged file is news the person running the server must see: console, not only the log."""
    for text in warnings:
        print(f"WARNING: {text}", file=sys.stderr, flush=True)
        log.warning(text)


def read_recovering(path: Path, parse: Callable[[str], T], *, encoding: str = "utf-8") -> Recovered[T]:
    """Read and parse `path`. A file that does not parse is moved aside (never deleted) and its
    backup restored when that one parses; the warnings say what happened and where the damaged
    copy is. Leftover temporary files are removed first."""
    remove_stale_temps(path)
    if not path.exists():
        return Recovered(None)
    try:
        return Recovered(parse(path.read_text(encoding=encoding)))
    except (ValueError, UnicodeDecodeError) as e:
        problem = str(e)
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(path, aside)
    said = f"{path.name} was unreadable ({problem}); it was kept as {aside.name}"
    backup = backup_path(path)
    try:
        text = backup.read_text(encoding=encoding)
        value = parse(text)
    except (OSError, ValueError, UnicodeDecodeError):
        return Recovered(None, [f"{said}, and no good backup exists: defaults are used"])
    write_durably(path, text, backup=False, encoding=encoding)
    return Recovered(value, [f"{said}; the last good copy ({backup.name}) was restored"])
