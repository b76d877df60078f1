"""The ControlNet model list: files and diffusers folders under models/ControlNet (+ --controlnet-dir).

Names are what the sd-webui-controlnet extension shows and its API clients send: the file stem plus
the old 8-hex model hash, `control_v11p_sd15_canny [d14c016b]`. Lookups accept that title, the bare
stem, or a stale title whose hash changed, because pasted infotexts carry old hashes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from modules.hashing import model_hash_old

MODEL_SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt", ".bin")
DIFFUSERS_CONFIG = "config.json"
DIFFUSERS_WEIGHTS = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")
NONE_MODEL = "None"
_HASH_SUFFIX = re.compile(r"\s*\[[0-9a-fA-F]{8}]\s*$")


@dataclass(frozen=True)
class ControlNetFile:
    """One ControlNet model on disk: a single file or a diffusers folder."""

    path: Path
    is_folder: bool = False

    @property
    def stem(self) -> str:
        return self.path.name if self.is_folder else self.path.stem

    @property
    def weights_file(self) -> Path:
        """The file whose bytes identify the model (a folder's weights file)."""
        if not self.is_folder:
            return self.path
        for name in DIFFUSERS_WEIGHTS:
            if (self.path / name).is_file():
                return self.path / name
        return self.path / DIFFUSERS_WEIGHTS[0]

    @property
    def short_hash(self) -> str:
        return model_hash_old(self.weights_file)

    @property
    def title(self) -> str:
        return f"{self.stem} [{self.short_hash}]"


def is_diffusers_controlnet_folder(path: Path) -> bool:
    return path.is_dir() and (path / DIFFUSERS_CONFIG).is_file() and any(
        (path / name).is_file() for name in DIFFUSERS_WEIGHTS)


def _is_model_file(name: str) -> bool:
    lower = name.lower()
    return not name.startswith(".") and lower.endswith(MODEL_SUFFIXES) and not lower.endswith(".vae.safetensors")


def scan_controlnet_models(folders: list[Path]) -> list[ControlNetFile]:
    """Every ControlNet under the folders (recursively; hidden and annotator folders skipped),
    sorted by name; the first of two same-named models wins."""
    found: dict[str, ControlNetFile] = {}
    for root in folders:
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            here = Path(dirpath)
            folders_here = sorted(d for d in dirnames if is_diffusers_controlnet_folder(here / d))
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in folders_here
                                 and d.lower() not in ("annotator", "annotators"))
            entries = [ControlNetFile(here / d, True) for d in folders_here]
            entries += [ControlNetFile(here / f) for f in sorted(filenames) if _is_model_file(f)]
            for entry in entries:
                found.setdefault(entry.stem.lower(), entry)
    return sorted(found.values(), key=lambda e: e.stem.lower())


def strip_hash(name: str) -> str:
    """`control_x [0123abcd]` -> `control_x`."""
    return _HASH_SUFFIX.sub("", name).strip()


def find_controlnet_model(name: str, models: list[ControlNetFile]) -> ControlNetFile | None:
    """The model a unit names: by exact title, then by stem (any or no hash), case-insensitive."""
    wanted = name.strip()
    for model in models:
        if model.title == wanted:
            return model
    stem = strip_hash(wanted).lower()
    for model in models:
        if model.stem.lower() == stem or model.path.name.lower() == stem:
            return model
    return None


def is_none_model(name: str | None) -> bool:
    return name is None or strip_hash(str(name)).strip().lower() in ("", "none")
