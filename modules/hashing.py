"""File hashes as A1111 computes them, and a cache so multi-GB files are hashed once.

The hashes are names users see and share: `Model hash` in infotexts (sha256[:10]), the old
8-hex model hash, LoRA "addnet" hashes (`Lora hashes`). They must match A1111's bit for bit.
The cache is keyed like A1111's (`checkpoint/<name>`) and trusts an entry only while the
file's mtime and size are unchanged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from modules.storage.durable_file import Recovered, read_recovering, warn_everywhere, write_durably

log = logging.getLogger(__name__)

BLOCK = 1024 * 1024
OLD_HASH_OFFSET = 0x100000
OLD_HASH_LENGTH = 0x10000


def _sha256_stream(f: BinaryIO, start: int = 0) -> str:
    digest = hashlib.sha256()
    f.seek(start)
    for chunk in iter(lambda: f.read(BLOCK), b""):
        digest.update(chunk)
    return digest.hexdigest()


def _parse_cache(text: str) -> dict[str, dict]:
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("top level is not an object")
    return data


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Full-file sha256 (hex), read in 1 MiB blocks."""
    with open(path, "rb") as f:
        return _sha256_stream(f)


def model_hash_old(path: str | os.PathLike[str]) -> str:
    """A1111's pre-2023 "model hash": sha256 of the 64 KiB at offset 1 MiB, first 8 hex."""
    try:
        with open(path, "rb") as f:
            f.seek(OLD_HASH_OFFSET)
            return hashlib.sha256(f.read(OLD_HASH_LENGTH)).hexdigest()[:8]
    except FileNotFoundError:
        return "NOFILE"


def addnet_hash_safetensors(path: str | os.PathLike[str]) -> str:
    """kohya's LoRA hash: sha256 of a .safetensors file after its 8-byte length and JSON header."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ValueError(f"{path} is not a .safetensors file: shorter than its 8-byte header length")
        offset = 8 + int.from_bytes(head, "little")
        if offset > size:
            raise ValueError(f"{path} is not a valid .safetensors file: header length {offset - 8} "
                             f"exceeds the file size {size}")
        return _sha256_stream(f, offset)


def file_signature(path: str | os.PathLike[str]) -> tuple[float, int] | None:
    """(mtime, size) of a file, or None when it cannot be read: a stored hash is trusted only while
    this is unchanged (both the hash cache and the model registry use it)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime, st.st_size


class HashCache:
    """A JSON file of `{"<kind>/<name>": {"sha256", "mtime", "size"}}`, safe to share between threads.

    Lookups never block on a long hash of another file; two threads asking for the same
    file wait for one computation instead of hashing twice.
    """

    def __init__(self, cache_file: Path) -> None:
        self.cache_file = Path(cache_file)
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._entries: dict[str, dict] | None = None

    def _load(self) -> dict[str, dict]:
        """Read the file once; a damaged cache is discarded (it can always be rebuilt)."""
        if self._entries is None:
            try:
                recovered = read_recovering(self.cache_file, _parse_cache)
            except OSError as e:
                log.warning("hash cache %s unreadable (%s); starting a new one", self.cache_file, e)
                recovered = Recovered(None)
            warn_everywhere(recovered.warnings)
            self._entries = recovered.value or {}
        return self._entries

    def _save(self) -> None:
        """Durable write (temp file, fsync, rename, backup): a crash never leaves half a cache.
        Called with the lock held: one writer."""
        assert self._entries is not None
        write_durably(self.cache_file, json.dumps(self._entries, indent=1, sort_keys=True))

    def get_cached(self, kind: str, name: str, path: str | os.PathLike[str]) -> str | None:
        """The cached hash if the file is unchanged since it was hashed; never computes."""
        sig = file_signature(Path(path))
        if sig is None:
            return None
        with self._lock:
            entry = self._load().get(f"{kind}/{name}")
        if not isinstance(entry, dict) or (entry.get("mtime"), entry.get("size")) != sig:
            return None
        value = entry.get("sha256")
        return value if isinstance(value, str) else None

    def _key_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    def get_or_compute(self, kind: str, name: str, path: str | os.PathLike[str],
                       compute: Callable[[Path], str] = sha256_file) -> str:
        """The hash of `path`, computed (with `compute`) only if the cache has no valid entry."""
        path = Path(path)
        key = f"{kind}/{name}"
        with self._key_lock(key):
            cached = self.get_cached(kind, name, path)
            if cached is not None:
                return cached
            sig = file_signature(path)
            if sig is None:
                raise FileNotFoundError(f"cannot hash {path}: the file does not exist")
            value = compute(path)
            if file_signature(path) != sig:  # changed while hashing: do not cache a mixed result
                return value
            with self._lock:
                self._load()[key] = {"sha256": value, "mtime": sig[0], "size": sig[1]}
                try:
                    self._save()
                except OSError as e:
                    log.warning("could not write hash cache %s: %s", self.cache_file, e)
            return value
