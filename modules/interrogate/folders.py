"""Where interrogation models are found, and their user-facing names.

CLIP: `<clip dir>/<arch>/<pretrained>.safetensors` (or `.bin` / `.pt`) is the model `arch/pretrained`,
as open_clip and clip-interrogator-ext name them; an architecture open_clip does not know carries its
open_clip model config as `config.json` in the same folder. Caption models: each folder of
`<BLIP dir>` holding a transformers `config.json` is the model named after its folder. The built-in
demo models ship in the same layouts under `models-demo/CLIP` (arch `demo`) and `models-demo/BLIP`
(listed with a `demo/` prefix).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from modules.paths import APP_ROOT, Paths

CLIP_SUFFIXES = (".safetensors", ".bin", ".pt")
DEMO_ROOT = APP_ROOT / "models-demo"


class ModelNotFoundError(LookupError):
    """A requested interrogation model is not installed; the message says where to put it."""


@dataclass(frozen=True)
class ClipModelFile:
    """One installed open_clip model file."""

    name: str  # "ViT-L-14/openai"
    arch: str
    path: Path

    @property
    def config_file(self) -> Path:
        return self.path.parent / "config.json"


@dataclass(frozen=True)
class CaptionModelFolder:
    """One installed caption model (a transformers folder)."""

    name: str
    path: Path


@dataclass(frozen=True)
class InterrogateFolders:
    """The folders searched, user folders first, then the shipped demo models."""

    clip_dir: Path
    caption_dir: Path
    demo_root: Path | None = DEMO_ROOT

    @classmethod
    def from_args(cls, args: argparse.Namespace, paths: Paths) -> InterrogateFolders:
        """`--clip-models-path` as in A1111, else `<models dir>/CLIP`; `--no-demo-model` hides the demo."""
        clip = getattr(args, "clip_models_path", None)
        clip_dir = Path(clip).expanduser().resolve() if clip else paths.models_dir / "CLIP"
        demo = None if getattr(args, "no_demo_model", False) else DEMO_ROOT
        return cls(clip_dir=clip_dir, caption_dir=paths.models_dir / "BLIP", demo_root=demo)

    def _clip_roots(self) -> list[Path]:
        return [self.clip_dir] + ([self.demo_root / "CLIP"] if self.demo_root is not None else [])

    def clip_models(self) -> list[ClipModelFile]:
        """Installed CLIP models, sorted by name; the first file wins when two share a name."""
        found: dict[str, ClipModelFile] = {}
        for root in self._clip_roots():
            if not root.is_dir():
                continue
            for folder in sorted(p for p in root.iterdir() if p.is_dir()):
                for file in sorted(folder.iterdir()):
                    if file.suffix.lower() in CLIP_SUFFIXES and file.is_file():
                        name = f"{folder.name}/{file.stem}"
                        found.setdefault(name, ClipModelFile(name, folder.name, file))
        return [found[k] for k in sorted(found)]

    def caption_models(self) -> list[CaptionModelFolder]:
        """Installed caption model folders (each with a config.json), sorted by name."""
        found: dict[str, CaptionModelFolder] = {}
        roots = [(self.caption_dir, "")]
        if self.demo_root is not None:
            roots.append((self.demo_root / "BLIP", "demo/"))
        for root, prefix in roots:
            if not root.is_dir():
                continue
            for folder in sorted(p for p in root.iterdir() if (p / "config.json").is_file()):
                found.setdefault(prefix + folder.name, CaptionModelFolder(prefix + folder.name, folder))
        return [found[k] for k in sorted(found)]

    def find_clip(self, name: str) -> ClipModelFile:
        """The CLIP model called `name`, or an error saying which file was looked for and what exists."""
        models = self.clip_models()
        for m in models:
            if m.name == name:
                return m
        arch, _, tag = name.partition("/")
        where = self.clip_dir / (arch or "<arch>") / f"{tag or '<pretrained>'}.safetensors"
        installed = ", ".join(m.name for m in models) or "none"
        raise ModelNotFoundError(
            f"CLIP model '{name}' is not installed: put its weights at {where} (folder {self.clip_dir}, "
            f"named <arch>/<pretrained>.safetensors). Installed: {installed}.")

    def find_caption(self, name: str) -> CaptionModelFolder:
        """The caption model called `name`, or an error naming the folder and what exists."""
        models = self.caption_models()
        for m in models:
            if m.name == name:
                return m
        installed = ", ".join(m.name for m in models) or "none"
        raise ModelNotFoundError(
            f"Caption model '{name}' is not installed: put a transformers BLIP folder (config.json, "
            f"weights, processor files) at {self.caption_dir / name}. Installed: {installed}.")
