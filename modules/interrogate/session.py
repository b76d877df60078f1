"""clip-interrogator's Interrogator over models this app loaded, with the term-embedding cache.

The package builds "label tables" (its term lists: mediums, artists, movements, trending sites,
flavors, negative terms) by embedding every term with the CLIP text encoder; with a big CLIP that
takes minutes, so it stores them as safetensors files. Here that cache lives in
`<cache dir>/interrogate/<sha256 of the CLIP file>/`, one file per list, each holding the hash of the
list's text: a changed model file or list is embedded afresh, an unchanged one loads from disk.
The package's own download of precomputed tables is switched off.

The Interrogator never loads or moves a model here: `load_clip_model`/`load_caption_model` receive
ours, and the caller places them on the device (the model cache) before each call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from clip_interrogator import Config, Interrogator

from modules.interrogate.caption_loader import CaptionBundle
from modules.interrogate.clip_loader import ClipBundle

TABLE_NAMES = ("artists", "flavors", "mediums", "movements", "trendings", "negative")


@dataclass(frozen=True)
class TableTiming:
    """How long the term tables took, and whether they came from the cache (for the UI and docs)."""

    seconds: float
    from_cache: bool

    def describe(self) -> str:
        how = "loaded from the cache" if self.from_cache else "embedded and cached"
        return f"term embeddings {how} in {self.seconds:.2f} s"


class LocalInterrogator(Interrogator):
    """The package's Interrogator with our tokenizer: the package would look one up by name."""

    def __init__(self, config: Config, tokenizer: Any) -> None:
        self._local_tokenizer = tokenizer
        super().__init__(config)

    @property
    def tokenize(self) -> Any:
        return self._local_tokenizer

    @tokenize.setter
    def tokenize(self, _ignored: Any) -> None:
        """The package assigns `open_clip.get_tokenizer(arch)`; ours matches the loaded file instead."""


LIST_FILES = ("artists.txt", "flavors.txt", "mediums.txt", "movements.txt", "negative.txt")


def trimmed_term_lists(folder: Path, lines: int) -> Path:
    """A copy of the package's term lists cut to their first `lines` entries (for tests and quick checks)."""
    folder.mkdir(parents=True, exist_ok=True)
    source = Path(Config().data_path)
    for name in LIST_FILES:
        text = (source / name).read_text(encoding="utf-8").splitlines()[:lines]
        (folder / name).write_text("\n".join(text) + "\n", encoding="utf-8")
    return folder


def table_cache_dir(cache_root: Path, model_sha256: str) -> Path:
    return cache_root / "interrogate" / model_sha256[:16]


def _tables_cached(folder: Path, clip_name: str) -> bool:
    stem = clip_name.replace("/", "_").replace("@", "_")
    return all((folder / f"{stem}_{t}.safetensors").is_file() for t in TABLE_NAMES)


def build_interrogator(clip: ClipBundle, model_sha256: str, cache_root: Path, device: torch.device,
                       term_lists: Path | None = None) -> tuple[LocalInterrogator, TableTiming]:
    """The Interrogator for `clip` (already on `device`); term tables from the cache when present.

    `term_lists` is a folder with the package's list files (default: the package's own data)."""
    config = Config(clip_model_name=clip.name, caption_model_name=None, download_cache=False, quiet=True,
                    device=str(device), cache_path=str(table_cache_dir(cache_root, model_sha256)))
    if term_lists is not None:
        config.data_path = str(term_lists)
    config.clip_model = clip.model
    config.clip_preprocess = clip.preprocess
    cached = _tables_cached(Path(config.cache_path), clip.name)
    start = time.perf_counter()
    ci = LocalInterrogator(config, clip.tokenizer)
    return ci, TableTiming(time.perf_counter() - start, cached)


def bind(ci: LocalInterrogator, clip: ClipBundle, caption: CaptionBundle | None, device: torch.device) -> None:
    """Point the Interrogator at the modules as placed for this call (the cache may have moved them)."""
    ci.clip_model = clip.model
    ci.clip_preprocess = clip.preprocess
    ci.device = device
    ci.config.device = str(device)
    ci.clip_offloaded = False
    ci.caption_offloaded = False
    if caption is None:
        ci.caption_model = None
        ci.config.caption_model_name = None
        return
    ci.caption_model = caption.model
    ci.caption_processor = caption.processor
    ci.config.caption_model_name = caption.package_name
    ci.dtype = next(caption.model.parameters()).dtype
