"""Textual-inversion embeddings from `embeddings/` (+ `--embeddings-dir`), used by name in prompts.

Formats (A1111's): `.pt` (A1111's own: `string_to_param` {"*": (n, dim)}, plus `name`, `step`,
`sd_checkpoint`, `sd_checkpoint_name`), `.bin` (diffusers: {token: (dim,)}), `.safetensors`
(`emb_params` (n, dim), a single tensor, or SDXL's `clip_l` (n, 768) + `clip_g` (n, 1280)).
Pickled files go through the restricted unpickler only. Each file is read once per (path, mtime)
and checked against the loaded model: an embedding whose width or encoders do not fit is listed
as skipped with the reason instead of breaking prompts. The prompt side (placeholder tokens and
vectors written over them, across 75-token chunks, with emphasis) is modules/text's; this module
supplies the `find_embedding_at_position` lookup it asks.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from modules.hashing import HashCache, sha256_file
from modules.models.sd_model import LoadedModel
from modules.networks.catalog import NetworkCatalog, NetworkFile
from modules.text.clip_tokenizer import tokenize_texts
from modules.text.encoder import embedding_vectors

EMBEDDING_EXTENSIONS = (".pt", ".bin", ".safetensors")
HASH_KIND = "textual_inversion"


@dataclass
class Embedding:
    name: str
    vec: torch.Tensor | dict[str, torch.Tensor]
    filename: Path
    step: int | None = None
    sd_checkpoint: str | None = None
    sd_checkpoint_name: str | None = None
    shorthash: str | None = None
    hasher: Any = None  # (path) -> full sha256, set by the database (uses its hash cache)

    def short_hash(self) -> str:
        """sha256 of the file, 12 hex digits (`TI hashes` in the infotext)."""
        if self.shorthash is None:
            full = self.hasher(self.filename) if self.hasher is not None else sha256_file(self.filename)
            self.shorthash = full[:12]
        return self.shorthash

    @property
    def vectors(self) -> int:
        first = next(iter(self.vec.values())) if isinstance(self.vec, dict) else self.vec
        return 1 if first.dim() == 1 else int(first.shape[0])

    @property
    def shape(self) -> int:
        """The width of the first (or only) encoder's vectors, as A1111's API reports it."""
        first = next(iter(self.vec.values())) if isinstance(self.vec, dict) else self.vec
        return int(first.shape[-1])

    def api_info(self) -> dict[str, Any]:
        return {"step": self.step, "sd_checkpoint": self.sd_checkpoint,
                "sd_checkpoint_name": self.sd_checkpoint_name, "shape": self.shape, "vectors": self.vectors}


class EmbeddingFormatError(ValueError):
    """The file is not a textual-inversion embedding in a known format."""


def _read(path: Path) -> Mapping[str, Any]:
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    from modules.models.safe_unpickle import load_pickled_checkpoint

    data = load_pickled_checkpoint(path, map_location="cpu")
    if not isinstance(data, Mapping):
        raise EmbeddingFormatError(f"it holds a {type(data).__name__}, not a dict")
    return data


def parse_embedding(name: str, path: Path, data: Mapping[str, Any]) -> Embedding:
    """The vectors and A1111's facts from a loaded file (any of the formats above)."""
    if "clip_l" in data and "clip_g" in data:
        vec: Any = {"clip_l": data["clip_l"].float(), "clip_g": data["clip_g"].float()}
    elif "string_to_param" in data:
        params = data["string_to_param"]
        if not isinstance(params, Mapping) or len(params) != 1:
            raise EmbeddingFormatError("its string_to_param holds more or less than one vector set")
        vec = next(iter(params.values())).detach().float()
    elif "emb_params" in data:
        vec = data["emb_params"].float()
    else:
        tensors = [v for v in data.values() if isinstance(v, torch.Tensor)]
        if len(tensors) != 1:
            raise EmbeddingFormatError(f"no embedding vectors found (keys: {sorted(map(str, data))[:5]})")
        vec = tensors[0].float()
    if isinstance(vec, torch.Tensor) and vec.dim() == 1:
        vec = vec.unsqueeze(0)
    if isinstance(vec, torch.Tensor) and vec.dim() != 2:
        raise EmbeddingFormatError(f"its vectors have shape {tuple(vec.shape)}, expected (count, width)")
    step = data.get("step")
    return Embedding(name, vec, path, step=int(step) if isinstance(step, (int, float)) else None,
                     sd_checkpoint=_text(data.get("sd_checkpoint")),
                     sd_checkpoint_name=_text(data.get("sd_checkpoint_name")))


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def compatibility_problem(embedding: Embedding, model: LoadedModel) -> str | None:
    """Why this embedding cannot be used with the model, or None."""
    if isinstance(embedding.vec, dict) and len(model.text_encoders) < len(embedding.vec):
        return (f"embedding {embedding.name!r} was made for SDXL (vectors for {', '.join(sorted(embedding.vec))}); "
                "the loaded model has one text encoder")
    for bundle in model.text_encoders:
        try:
            embedding_vectors(embedding, bundle.kind, int(bundle.model.config.hidden_size))
        except ValueError as exc:
            return str(exc)
    return None


@dataclass
class EmbeddingLookup:
    """The usable embeddings for one model, indexed by the first token of their names."""

    loaded: dict[str, Embedding] = field(default_factory=dict)
    skipped: dict[str, Embedding] = field(default_factory=dict)
    skip_reasons: dict[str, str] = field(default_factory=dict)
    _by_first_token: dict[int, list[tuple[list[int], Embedding]]] = field(default_factory=dict)

    def index(self, tokenizer: Any) -> None:
        names = list(self.loaded)
        for name, ids in zip(names, tokenize_texts(tokenizer, names), strict=True):
            if ids:
                self._by_first_token.setdefault(ids[0], []).append((ids, self.loaded[name]))
        for entries in self._by_first_token.values():
            entries.sort(key=lambda e: -len(e[0]))  # the longest name wins, as in A1111

    def find_embedding_at_position(self, tokens: list[int], offset: int) -> tuple[Embedding | None, int]:
        for ids, embedding in self._by_first_token.get(tokens[offset], []):
            if tokens[offset:offset + len(ids)] == ids:
                return embedding, len(ids)
        return None, 1


class EmbeddingDatabase:
    """All embedding files, read once each; `lookup(model)` gives the per-model view."""

    def __init__(self, roots: list[Path], hash_cache: HashCache | None = None) -> None:
        self.catalog = NetworkCatalog(roots, EMBEDDING_EXTENSIONS)
        self.hash_cache = hash_cache
        self._read: dict[tuple[Path, float, int], Embedding | str] = {}
        self._lock = threading.Lock()

    def refresh(self) -> None:
        self.catalog.refresh()

    def _load(self, file: NetworkFile) -> Embedding | str:
        key = (file.path, file.mtime, file.size)
        with self._lock:
            cached = self._read.get(key)
        if cached is not None:
            return cached
        try:
            result: Embedding | str = parse_embedding(file.name, file.path, _read(file.path))
            result.hasher = self._hash
        except Exception as exc:  # any unreadable file is reported, never fatal
            result = f"could not be read: {exc}"
        with self._lock:
            self._read[key] = result
        return result

    def lookup(self, model: LoadedModel | None) -> EmbeddingLookup:
        """Split the files into usable and skipped (with reasons) for `model`."""
        view = EmbeddingLookup()
        for file in self.catalog.files():
            loaded = self._load(file)
            if isinstance(loaded, str):
                view.skip_reasons[file.name] = loaded
                continue
            problem = compatibility_problem(loaded, model) if model is not None else None
            if problem:
                view.skipped[file.name], view.skip_reasons[file.name] = loaded, problem
            elif file.name not in view.loaded:
                view.loaded[file.name] = loaded
        if model is not None and model.text_encoders:
            view.index(model.text_encoders[0].tokenizer)
        return view

    def _hash(self, path: Path) -> str:
        if self.hash_cache is None:
            return sha256_file(path)
        return self.hash_cache.get_or_compute(HASH_KIND, path.name, path)


def ti_hashes(used: Mapping[str, Any], lookup: Any = None) -> str | None:
    """`TI hashes` value: "name: 12hex, ..." for the embeddings a job's prompts used."""
    parts = [f"{name}: {emb.short_hash()}" for name, emb in used.items() if isinstance(emb, Embedding)]
    return ", ".join(parts) or None
