"""The list of checkpoints on disk, with A1111's names, titles, hashes and aliases.

Clients and pasted infotexts name checkpoints in many ways (`sub/x.safetensors [0123456789]`,
`x`, `sub_x`, an 8-hex old hash, a full sha256, or a stale title whose hash changed), so
`find()` accepts all of A1111's aliases plus its closest-match search. Full-file hashes take
seconds per GB, so they are read from the cache at scan time and otherwise computed by a
background thread or on first load: startup never waits for hashing.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modules.hashing import HashCache, file_signature, model_hash_old, sha256_file

log = logging.getLogger(__name__)

CHECKPOINT_EXTENSIONS = (".safetensors", ".ckpt")
SKIPPED_SUFFIXES = (".vae.safetensors", ".vae.ckpt")  # VAEs kept beside checkpoints
DIFFUSERS_MARKER = "model_index.json"
DEMO_PREFIX = "demo/"
HASH_KIND = "checkpoint"
RE_STRIP_CHECKSUM = re.compile(r"\s*\[[^]]+]\s*$")
MAX_QUERY_CHARS = 4096  # no title is longer; longer text is not looked up (the regex above is quadratic)


@dataclass(eq=False)
class CheckpointInfo:
    """One checkpoint file (or diffusers folder). Hash fields fill in when hashing finishes."""

    filename: Path
    name: str  # path relative to its models folder, with "/"
    config: Path | None = None  # a same-named .yaml beside the file
    is_demo: bool = False
    is_folder: bool = False
    sha256: str | None = None
    _old_hash: str | None = field(default=None, repr=False)
    _signature: tuple[float, int] | None = field(default=None, repr=False)

    @property
    def model_name(self) -> str:
        """`sub/x.safetensors` -> `sub_x` (A1111's `model_name`)."""
        flat = self.name.replace("/", "_").replace("\\", "_")
        return flat if self.is_folder else os.path.splitext(flat)[0]

    @property
    def stem(self) -> str:
        """The file name without folders or extension (A1111's `name_for_extra`, infotext `Model`)."""
        return self.filename.name if self.is_folder else self.filename.stem

    @property
    def hash_short(self) -> str | None:
        return self.sha256[:10] if self.sha256 else None

    @property
    def title(self) -> str:
        return f"{self.name} [{self.hash_short}]" if self.hash_short else self.name

    @property
    def short_title(self) -> str:
        return f"{self.stem} [{self.hash_short}]" if self.hash_short else self.stem

    @property
    def shorthash_old(self) -> str | None:
        """The pre-2023 8-hex hash; read on first use (64 KiB), None for diffusers folders."""
        if self.is_folder:
            return None
        if self._old_hash is None:
            self._old_hash = model_hash_old(self.filename)
        return self._old_hash

    def aliases(self, include_old_hash: bool = True) -> list[str]:
        """Every string that names this checkpoint in A1111 (`checkpoint_aliases`)."""
        names = [self.title, self.name, self.model_name, self.stem]
        if self.hash_short:
            names += [self.hash_short, self.sha256 or "", f"{self.name} [{self.hash_short}]",
                      f"{self.stem} [{self.hash_short}]"]
        old = self.shorthash_old if include_old_hash else None
        if old and old != "NOFILE":
            names += [old, f"{self.name} [{old}]"]
        return list(dict.fromkeys(names))


def to_api_dict(info: CheckpointInfo) -> dict[str, Any]:
    """The `/sdapi/v1/sd-models` entry."""
    return {
        "title": info.title,
        "model_name": info.model_name,
        "hash": info.hash_short,
        "sha256": info.sha256,
        "filename": str(info.filename),
        "config": str(info.config) if info.config else None,
    }


# --- scanning ------------------------------------------------------------------------------


def _is_checkpoint_file(name: str) -> bool:
    lower = name.lower()
    return (not name.startswith(".") and lower.endswith(CHECKPOINT_EXTENSIONS)
            and not lower.endswith(SKIPPED_SUFFIXES))


def scan_folder(root: Path) -> Iterator[tuple[Path, bool]]:
    """(path, is_diffusers_folder) for every checkpoint under `root`; hidden folders skipped."""
    if (root / DIFFUSERS_MARKER).is_file():
        yield root, True
        return
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:  # a symlink loop
            dirnames[:] = []
            continue
        seen.add(real)
        here = Path(dirpath)
        models = sorted(d for d in dirnames if (here / d / DIFFUSERS_MARKER).is_file())
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in models)
        for d in models:
            yield here / d, True
        for name in sorted(filenames):
            if _is_checkpoint_file(name):
                yield here / name, False


def _sidecar_config(path: Path, is_folder: bool) -> Path | None:
    if is_folder:
        return None
    yaml = path.with_suffix(".yaml")
    return yaml if yaml.is_file() else None


def _relative_name(path: Path, roots: list[Path]) -> str:
    for root in roots:
        try:
            rel = path.relative_to(root).as_posix()
        except ValueError:
            continue
        return rel if rel != "." else path.name
    return path.name


class CheckpointRegistry:
    """Scans the checkpoint folders and resolves names; thread-safe."""

    def __init__(self, search_dirs: list[Path], extra_files: list[Path], hash_cache: HashCache | None = None,
                 demo_checkpoint: Path | None = None, hashing_enabled: bool = True) -> None:
        self.search_dirs = [Path(d).expanduser().absolute() for d in search_dirs]
        self.extra_files = [Path(f).expanduser().absolute() for f in extra_files]
        self.hash_cache = hash_cache
        self.demo_checkpoint = Path(demo_checkpoint).absolute() if demo_checkpoint else None
        self.hashing_enabled = hashing_enabled
        self._lock = threading.Lock()
        self._hash_locks: dict[Path, threading.Lock] = {}
        self._infos: list[CheckpointInfo] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._background_wanted = False

    # --- listing -----------------------------------------------------------------------
    def refresh(self) -> list[CheckpointInfo]:
        """Rescan the disk. Known files keep their info objects (and hashes, if still valid)."""
        with self._lock:
            known = {info.filename: info for info in self._infos}
        found = self._scan()
        infos = []
        for path, name, is_folder, is_demo in found:
            info = known.get(path)
            if info is None or info.name != name:
                info = CheckpointInfo(path, name, is_demo=is_demo, is_folder=is_folder)
            info.config = _sidecar_config(path, is_folder)
            self._revalidate_hash(info)
            infos.append(info)
        demo = [i for i in infos if i.is_demo]
        rest = sorted((i for i in infos if not i.is_demo), key=lambda i: i.name.lower())
        with self._lock:
            self._infos = demo + rest
        if self._background_wanted:
            self.start_background_hashing()
        return self.list()

    def _scan(self) -> list[tuple[Path, str, bool, bool]]:
        """(path, name, is_folder, is_demo); the first of two files with the same name wins."""
        found: list[tuple[Path, str, bool, bool]] = []
        names: set[str] = set()
        if self.demo_checkpoint is not None and self.demo_checkpoint.exists():
            found.append((self.demo_checkpoint, DEMO_PREFIX + self.demo_checkpoint.name,
                          self.demo_checkpoint.is_dir(), True))
        entries = [(p, folder, root) for root in self.search_dirs if root.is_dir()
                   for p, folder in scan_folder(root)]
        for path in self.extra_files:
            if path.exists():
                entries.append((path, path.is_dir(), None))
            else:
                log.warning("checkpoint %s (--ckpt) does not exist; check the path", path)
        seen = {f[0] for f in found}
        for path, is_folder, root in entries:
            name = _relative_name(path, [root] if root is not None else self.search_dirs)
            if path in seen:
                continue
            if name in names:
                log.warning("two checkpoints are named %s; using the first, ignoring %s", name, path)
                continue
            seen.add(path)
            names.add(name)
            found.append((path, name, is_folder, False))
        return found

    def list(self) -> list[CheckpointInfo]:
        """Demo first, then by name, case-insensitively."""
        with self._lock:
            return list(self._infos)

    # --- lookup ------------------------------------------------------------------------
    def find(self, query: str | None) -> CheckpointInfo | None:
        """A checkpoint by any A1111 alias, else the shortest title containing the query
        (also with a trailing `[hash]` removed, so stale titles still resolve)."""
        if not query or not query.strip() or len(query) > MAX_QUERY_CHARS:
            return None
        query = query.strip().replace("\\", "/")
        infos = self.list()
        for include_old in (False, True):
            for info in infos:
                if query in info.aliases(include_old_hash=include_old):
                    return info
        for text in (query, RE_STRIP_CHECKSUM.sub("", query)):
            matches = sorted((i for i in infos if text and text in i.title), key=lambda i: len(i.title))
            if matches:
                return matches[0]
        return None

    # --- hashing -----------------------------------------------------------------------
    def _revalidate_hash(self, info: CheckpointInfo) -> None:
        """At scan time: take a valid cached hash, drop one that no longer matches the file."""
        if not self.hashing_enabled or info.is_folder:
            info.sha256 = None
            return
        if self.hash_cache is not None:
            info.sha256 = self.hash_cache.get_cached(HASH_KIND, info.name, info.filename)
        elif info.sha256 is not None and info._signature != file_signature(info.filename):
            info.sha256 = None
        info._old_hash = None if info._signature != file_signature(info.filename) else info._old_hash

    def _hash_lock(self, path: Path) -> threading.Lock:
        with self._lock:
            return self._hash_locks.setdefault(path, threading.Lock())

    def ensure_hash(self, info: CheckpointInfo) -> str | None:
        """Compute (or fetch from the cache) the full sha256; None with --no-hashing or on error."""
        if not self.hashing_enabled or info.is_folder:
            return None
        with self._hash_lock(info.filename):
            sig = file_signature(info.filename)
            if info.sha256 is not None and self.hash_cache is None and info._signature == sig:
                return info.sha256
            try:
                if self.hash_cache is not None:
                    value = self.hash_cache.get_or_compute(HASH_KIND, info.name, info.filename)
                else:
                    value = sha256_file(info.filename)
            except OSError as e:
                log.warning("could not hash checkpoint %s: %s", info.filename, e)
                return None
            info.sha256, info._signature = value, sig
            return value

    def start_background_hashing(self) -> threading.Thread | None:
        """Hash every unhashed checkpoint in a daemon thread; titles gain `[hash]` as it goes."""
        if not self.hashing_enabled:
            return None
        with self._lock:
            self._background_wanted = True
            if self._thread is not None and self._thread.is_alive():
                return self._thread
            self._stop.clear()
            self._thread = threading.Thread(target=self._hash_all, name="checkpoint-hashing", daemon=True)
            thread = self._thread
        thread.start()
        return thread

    def _hash_all(self) -> None:
        tried: set[Path] = set()
        while not self._stop.is_set():
            pending = [i for i in self.list()
                       if i.sha256 is None and not i.is_folder and i.filename not in tried]
            if not pending:
                return
            for info in pending:
                if self._stop.is_set():
                    return
                tried.add(info.filename)
                self.ensure_hash(info)

    def wait_for_hashing(self, timeout: float | None = None) -> bool:
        """True once the background thread has finished (or none runs)."""
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def stop_background_hashing(self, timeout: float | None = None) -> None:
        """Stop after the file being hashed now (shutdown, tests)."""
        with self._lock:
            self._background_wanted = False
        self._stop.set()
        self.wait_for_hashing(timeout)
