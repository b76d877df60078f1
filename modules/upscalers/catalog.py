"""The list of upscalers a user can pick, and the one place that runs them.

Built-ins come first (None, Lanczos, Nearest), then every model file in the upscaler folders,
working or not: a file spandrel cannot load is listed with `error` set to the reason, and picking
it answers that reason instead of crashing. Describing a file needs spandrel to build the model
(that is how its scale is known); the result is remembered per (path, size, mtime).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from modules.upscalers.folders import TILE_SETTINGS, model_files
from modules.upscalers.model_loading import UpscalerLoadError, load_descriptor
from modules.upscalers.names import BUILTIN_NAMES, LATENT_MODES, display_name
from modules.upscalers.resize import run_model_upscale, target_size

OnTile = Callable[[int, int], None]
# An extension's upscaler: (image, scale) -> the image enlarged by about `scale` (resized exactly afterwards).
UpscaleFn = Callable[[Image.Image, float], Image.Image]


class UnknownUpscalerError(ValueError):
    """The request named an upscaler that does not exist (or is broken); the message lists the choices."""


@dataclass(frozen=True)
class UpscalerEntry:
    """One pickable upscaler. `kind` is "builtin" or the model folder it came from."""

    name: str
    kind: str
    path: Path | None = None
    scale: float = 4.0
    architecture: str = ""
    error: str | None = None
    run: UpscaleFn | None = field(default=None, compare=False, repr=False)  # an extension's upscaler

    @property
    def is_model(self) -> bool:
        return self.path is not None

    def api_dict(self) -> dict[str, Any]:
        """A1111's `/sdapi/v1/upscalers` item, plus `error` (null unless the file is broken)."""
        return {"name": self.name, "model_name": self.kind if self.is_model or self.run else None,
                "model_path": str(self.path) if self.path else None, "model_url": None,
                "scale": self.scale, "error": self.error}


class UpscalerCatalog:
    """Scans the upscaler folders and runs upscales; one loaded model is kept between calls."""

    def __init__(self, folders: Mapping[str, Path], device: torch.device | None = None, cache: Any = None) -> None:
        self.folders = dict(folders)
        self.device = device or torch.device("cpu")
        self.cache = cache  # the app's ModelCache: upscaler models are handles there (None: keep one here)
        self._described: dict[tuple[Path, int, int], UpscalerEntry] = {}
        self._loaded: tuple[Path, Any] | None = None
        self._lock = threading.Lock()
        self._registered: list[UpscalerEntry] = []  # extensions' upscalers (this catalog's only)

    def register(self, name: str, run: UpscaleFn, scale: float = 4.0, owner: str = "extension") -> UpscalerEntry:
        """Add an extension's upscaler (listed after the built-ins, before the model files)."""
        if not name or not callable(run):
            raise ValueError("an upscaler needs a name and a function (image, scale) -> image")
        if any(e.name.lower() == name.lower() for e in (*self._registered, *self.list())):
            raise ValueError(f"An upscaler named {name!r} is already registered")
        entry = UpscalerEntry(name, owner, None, float(scale), "extension", run=run)
        self._registered.append(entry)
        return entry

    # --- listing ---------------------------------------------------------------------
    def _describe(self, kind: str, path: Path) -> UpscalerEntry:
        stat = path.stat()
        key = (path, stat.st_size, stat.st_mtime_ns)
        if key not in self._described:
            name = display_name(path)
            try:
                descriptor = load_descriptor(path)
                entry = UpscalerEntry(name, kind, path, float(descriptor.scale), descriptor.architecture.name)
            except UpscalerLoadError as err:
                entry = UpscalerEntry(name, kind, path, 0.0, "", str(err))
            self._described[key] = entry
        return self._described[key]

    def list(self) -> list[UpscalerEntry]:
        """Built-ins, then model files by folder; broken files included with their `error`."""
        entries = [UpscalerEntry(name, "builtin") for name in BUILTIN_NAMES] + list(self._registered)
        seen = {e.name.lower() for e in entries}
        with self._lock:
            for kind, folder in self.folders.items():
                for path in model_files(folder):
                    entry = self._describe(kind, path)
                    if entry.name.lower() not in seen:
                        seen.add(entry.name.lower())
                        entries.append(entry)
        return entries

    def names(self, include_latent: bool = False) -> list[str]:
        """Names of the working upscalers (for dropdowns); hires fix puts the latent modes first."""
        working = [e.name for e in self.list() if e.error is None]
        return (list(LATENT_MODES) + working) if include_latent else working

    def find(self, name: str | None) -> UpscalerEntry | None:
        if not name:
            return None
        wanted = name.strip().lower()
        for entry in self.list():
            if wanted in (entry.name.lower(), entry.path.stem.lower() if entry.path else ""):
                return entry
        return None

    def resolve(self, name: str | None) -> UpscalerEntry:
        """The working upscaler called `name`, or an UnknownUpscalerError naming the choices."""
        entry = self.find(name)
        if entry is None:
            raise UnknownUpscalerError(
                f"upscaler {name!r} not found; choose one of: {', '.join(self.names())} "
                f"(model files go into {', '.join(str(f) for f in self.folders.values())})")
        if entry.error:
            raise UnknownUpscalerError(f"upscaler {entry.name!r} cannot be used: {entry.error}")
        return entry

    # --- running ---------------------------------------------------------------------
    @contextmanager
    def _using(self, entry: UpscalerEntry) -> Iterator[Any]:
        """The model of `entry` on the compute device: through the model cache's handle when there
        is a cache (it loads, places and evicts), else the one model this catalog keeps."""
        path = entry.path
        assert path is not None
        if self.cache is None:
            if self._loaded is None or self._loaded[0] != path:
                self._loaded = None  # drop the previous model before building the next
                self._loaded = (path, load_descriptor(path).to(self.device))
            yield self._loaded[1]
            return
        from modules.models.handles import ModelHandle

        key = f"upscaler/{entry.name} [{path.stat().st_mtime_ns}]"
        self.cache.register(ModelHandle(key, load=lambda: load_descriptor(path), kind="upscaler",
                                        size_bytes=path.stat().st_size))
        with self.cache.use(key) as descriptor:
            yield descriptor

    def upscale(self, image: Image.Image, name: str | None, *, scale: float | None = None,
                size: tuple[int, int] | None = None, settings: Mapping[str, Any] | None = None,
                on_tile: OnTile | None = None) -> Image.Image:
        """`image` upscaled by `scale` (or to `size`) with the upscaler `name`.

        Model upscalers run as many passes as needed (at most three) to reach the size, then a
        Lanczos resize gives the exact size, as A1111 does.
        """
        entry = self.resolve(name or "None")
        width, height = size or target_size(image.size, scale or 1.0)
        if entry.run is not None:
            return _exact_size(entry.run(image, width / image.width), (width, height), entry.name)
        if entry.kind == "builtin":
            method = Image.NEAREST if entry.name == "Nearest" else Image.LANCZOS
            return image if image.size == (width, height) else image.resize((width, height), method)
        tile_key, overlap_key = TILE_SETTINGS.get(entry.kind, TILE_SETTINGS["ESRGAN"])
        settings = settings or {}
        tile, overlap = int(settings.get(tile_key, 192)), int(settings.get(overlap_key, 8))
        with self._lock, self._using(entry) as descriptor:
            device = next(descriptor.model.parameters()).device
            return run_model_upscale(descriptor, image, (width, height), tile, overlap, device, on_tile)

    def unload(self) -> None:
        with self._lock:
            self._loaded = None


def _exact_size(image: Any, size: tuple[int, int], name: str) -> Image.Image:
    """An extension upscaler's result at exactly `size` (Lanczos, as after model passes)."""
    if not isinstance(image, Image.Image):
        raise TypeError(f"upscaler {name!r} returned {type(image).__name__}, not a PIL image")
    return image if image.size == size else image.resize(size, Image.LANCZOS)
