"""Which VAE decodes: the `sd_vae` setting ("Automatic", "None", or a file in models/VAE).

- "Automatic": a `<checkpoint>.vae.safetensors` / `.vae.pt` / `.vae.ckpt` beside the checkpoint,
  else the checkpoint's own VAE (A1111's rule);
- "None": always the checkpoint's own VAE;
- a file name from `models/VAE/` (+ `--vae-dir`, subfolders);
- `--vae-path` overrides the setting.
Switching never reloads the checkpoint: the checkpoint's own VAE stays in `model.extra`, and the
last external VAE read is kept beside it, so going back and forth costs one assignment.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modules.hashing import HashCache, sha256_file
from modules.models.loader import replace_vae
from modules.models.sd_model import LoadedModel
from modules.networks.catalog import NetworkCatalog

log = logging.getLogger(__name__)

VAE_EXTENSIONS = (".safetensors", ".pt", ".ckpt")
NEAR_CHECKPOINT_SUFFIXES = (".vae.safetensors", ".vae.pt", ".vae.ckpt")
AUTOMATIC, NONE = "Automatic", "None"
HASH_KIND = "vae"


class VaeNotFoundError(LookupError):
    """The chosen VAE is not in the VAE folders."""


@dataclass(frozen=True)
class VaeChoice:
    """The VAE a job decodes with: `path` None means the checkpoint's own."""

    path: Path | None
    source: str  # "own", "near checkpoint", "settings", "--vae-path"

    @property
    def name(self) -> str | None:
        """Infotext `VAE`: the file name with its extension."""
        return self.path.name if self.path else None


class VaeSelector:
    def __init__(self, roots: list[Path], hash_cache: HashCache | None = None, forced: Path | None = None) -> None:
        self.catalog = NetworkCatalog(roots, VAE_EXTENSIONS)
        self.hash_cache = hash_cache
        self.forced = forced

    def names(self) -> list[str]:
        """The dropdown's choices after "Automatic" and "None": file names (A1111 shows basenames)."""
        return [f.path.name for f in self.catalog.files()]

    def find(self, name: str) -> Path | None:
        for file in self.catalog.files():
            if name in (file.path.name, file.rel, file.name):
                return file.path
        return None

    def choose(self, setting: str | None, checkpoint: Path | None) -> VaeChoice:
        if self.forced is not None:
            return VaeChoice(self.forced, "--vae-path")
        setting = setting or AUTOMATIC
        if setting == NONE:
            return VaeChoice(None, "own")
        if setting == AUTOMATIC:
            near = near_checkpoint(checkpoint)
            return VaeChoice(near, "near checkpoint") if near else VaeChoice(None, "own")
        path = self.find(setting)
        if path is None:
            raise VaeNotFoundError(f"VAE {setting!r} not found in {', '.join(map(str, self.catalog.roots))}; "
                                   "choose Automatic, None or a listed file (GET /sdapi/v1/sd-vae)")
        return VaeChoice(path, "settings")

    def short_hash(self, path: Path) -> str:
        full = self.hash_cache.get_or_compute(HASH_KIND, path.name, path) if self.hash_cache else sha256_file(path)
        return full[:10]


def near_checkpoint(checkpoint: Path | None) -> Path | None:
    if checkpoint is None or checkpoint.is_dir():
        return None
    stem = checkpoint.with_suffix("")
    for suffix in NEAR_CHECKPOINT_SUFFIXES:
        candidate = stem.with_name(stem.name + suffix)
        if candidate.is_file():
            return candidate
    return None


def apply_vae(model: LoadedModel, choice: VaeChoice) -> Any:
    """Make `model.vae` the chosen one; the checkpoint's own VAE is kept for switching back."""
    own = model.extra.setdefault("own_vae", model.vae)
    if choice.path is None:
        model.vae = own
        return own
    try:
        stat = choice.path.stat()
    except OSError as exc:
        raise VaeNotFoundError(f"VAE file {choice.path} cannot be read: {exc}") from exc
    key = (str(choice.path), stat.st_mtime, stat.st_size)
    cached = model.extra.get("external_vae")
    if cached is not None and cached[0] == key:
        model.vae = cached[1]
        return cached[1]
    model.vae = own  # replace_vae copies the architecture and device/dtype of the current VAE
    new = replace_vae(model, choice.path)
    model.extra["external_vae"] = (key, new)
    log.info("VAE %s loaded (%s)", choice.path.name, choice.source)
    return new
