"""Files of one extra-network kind found under its folders (LoRA, embeddings, VAE, hypernetworks).

Why lazy: a LoRA folder can hold thousands of files and A1111's start-up slows down with them.
Listing a folder costs one `os.scandir` walk and a `stat` per file; nothing is read or hashed
until a prompt, the API or the card browser asks, and the list is kept until `refresh()`.
Safetensors headers (for `ss_output_name` aliases and the API's metadata) are read on demand and
remembered per (path, mtime, size).
"""

from __future__ import annotations

import json
import os
import struct
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

MAX_HEADER_BYTES = 100 * 1024 * 1024


@dataclass
class NetworkFile:
    """One file: `name` is the stem A1111 uses in tags; `rel` its path under the root folder."""

    name: str
    path: Path
    root: Path
    mtime: float
    size: int
    folder: str = ""  # the subfolder under the root ("" at the top), with "/", for the card browser's tree
    _metadata: dict[str, str] | None = field(default=None, repr=False)
    _error: str | None = field(default=None, repr=False)

    @property
    def rel(self) -> str:
        """The path under the root, with "/"."""
        filename = self.path.name
        return f"{self.folder}/{filename}" if self.folder else filename

    def metadata(self) -> dict[str, str]:
        """The safetensors `__metadata__` strings (empty for other formats); read once."""
        if self._metadata is None:
            self._metadata, self._error = read_header_metadata(self.path)
        return self._metadata

    @property
    def error(self) -> str | None:
        """Why the file cannot be used (a damaged header), or None; reads the header once."""
        self.metadata()
        return self._error

    @property
    def alias(self) -> str:
        """A1111's alias: the training run's `ss_output_name`, else the file name."""
        return self.metadata().get("ss_output_name") or self.name


def read_header_metadata(path: Path) -> tuple[dict[str, str], str | None]:
    """(metadata, error): only the JSON header of a .safetensors file is read."""
    if path.suffix.lower() != ".safetensors":
        return {}, None
    try:
        with path.open("rb") as f:
            raw = f.read(8)
            if len(raw) < 8:
                return {}, "the file is shorter than a safetensors header"
            (length,) = struct.unpack("<Q", raw)
            if length > min(MAX_HEADER_BYTES, path.stat().st_size - 8):
                return {}, f"the safetensors header claims {length} bytes, more than the file holds"
            header = json.loads(f.read(length))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return {}, f"the safetensors header cannot be read ({exc})"
    if not isinstance(header, dict):
        return {}, "the safetensors header is not a JSON object"
    meta = header.get("__metadata__") or {}
    return ({str(k): str(v) for k, v in meta.items()} if isinstance(meta, dict) else {}), None


def scan_folders(roots: Sequence[Path], extensions: Iterable[str], exclude_suffixes: Iterable[str] = (),
                 siblings: dict[Path, frozenset[str]] | None = None) -> list[NetworkFile]:
    """Every file with one of `extensions` under the roots (subfolders too, hidden ones skipped),
    sorted by relative path; only `stat` is called per file. `siblings`, when given, receives
    every folder's file names (so previews and `.json` notes are found without more disk calls)."""
    exts = tuple(e.lower() for e in extensions)
    excluded = tuple(e.lower() for e in exclude_suffixes)
    found: list[NetworkFile] = []
    seen: set[Path] = set()
    for root in roots:
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            folder = os.path.relpath(dirpath, root).replace(os.sep, "/")
            folder = "" if folder == "." else folder
            if siblings is not None:
                siblings[Path(dirpath)] = frozenset(filenames)
            for filename in sorted(filenames):
                low = filename.lower()
                if not low.endswith(exts) or low.endswith(excluded) or filename.startswith("."):
                    continue
                path = Path(dirpath) / filename
                if path in seen:
                    continue
                seen.add(path)
                try:
                    st = path.stat()
                except OSError:
                    continue
                stem = filename[: filename.rfind(".")] if "." in filename else filename
                found.append(NetworkFile(stem, path, root, st.st_mtime, st.st_size, folder))
    return found


class NetworkCatalog:
    """The files of one kind; scanned on first use and on `refresh()`, safe across threads."""

    def __init__(self, roots: Sequence[Path], extensions: Sequence[str],
                 exclude_suffixes: Sequence[str] = ()) -> None:
        self.roots = [Path(r) for r in roots]
        self.extensions = tuple(extensions)
        self.exclude_suffixes = tuple(exclude_suffixes)
        self._files: list[NetworkFile] | None = None
        self._siblings: dict[Path, frozenset[str]] = {}
        self._lock = threading.Lock()

    def refresh(self) -> list[NetworkFile]:
        siblings: dict[Path, frozenset[str]] = {}
        files = scan_folders(self.roots, self.extensions, self.exclude_suffixes, siblings)
        with self._lock:
            self._files, self._siblings = files, siblings
        return files

    def sibling_names(self, folder: Path) -> frozenset[str]:
        """File names in a scanned folder (as of the last scan)."""
        self.files()
        return self._siblings.get(folder, frozenset())

    def files(self) -> list[NetworkFile]:
        with self._lock:
            files = self._files
        return files if files is not None else self.refresh()

    @property
    def scanned(self) -> bool:
        return self._files is not None

    def find(self, name: str) -> NetworkFile | None:
        """By file stem, then relative path (with or without extension), then alias."""
        files = self.files()
        for candidate in files:
            if candidate.name == name:
                return candidate
        low = name.lower()
        for candidate in files:
            rel = candidate.rel.lower()
            if rel == low or rel[: rel.rfind(".")] == low or candidate.name.lower() == low:
                return candidate
        for candidate in files:
            if candidate.alias == name:
                return candidate
        return None

    def resolve_inside(self, rel: str) -> Path | None:
        """A path given by a client, accepted only when it names a listed file (no escaping)."""
        for candidate in self.files():
            if candidate.rel == rel or str(candidate.path) == rel:
                return candidate.path
        return None
