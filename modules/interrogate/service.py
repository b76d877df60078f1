"""What the Interrogate tab, the img2img buttons and the API call: one object per running app.

It resolves model names to files (folders.py), loads them on first use, keeps one Interrogator per
CLIP model (its term tables are the expensive part) and places the models on the compute device
only for the duration of a call (placement.py), so under --medvram/--lowvram they leave the GPU
after use and a checkpoint's parts make room while they run.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from modules.deepbooru.service import DeepBooruTagger
from modules.interrogate import modes
from modules.interrogate.folders import InterrogateFolders
from modules.interrogate.placement import ModelPlacement

if TYPE_CHECKING:  # the loaders import open_clip/transformers: only when a model is first used
    from modules.interrogate.session import LocalInterrogator, TableTiming


class CaptionModelMissingError(LookupError):
    """A mode needs a caption model and none is chosen or installed."""


@dataclass
class InterrogateService:
    """Interrogation for one app: model lookup, loading, placement and the package's modes."""

    folders: InterrogateFolders
    cache_root: Path
    placement: ModelPlacement
    file_hash: Callable[[str, Path], str]  # (model name, file) -> sha256
    default_clip: Callable[[], str] = lambda: ""
    default_caption: Callable[[], str] = lambda: ""
    term_lists: Path | None = None  # the package's data folder unless set (tests use short lists)
    deepbooru: DeepBooruTagger | None = None  # tags from models/torch_deepdanbooru, same placement
    last_timing: TableTiming | None = None
    _interrogators: dict[str, LocalInterrogator] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # --- names ---------------------------------------------------------------------------
    def clip_names(self) -> list[str]:
        return [m.name for m in self.folders.clip_models()]

    def caption_names(self) -> list[str]:
        return [m.name for m in self.folders.caption_models()]

    def resolve_clip(self, name: str | None) -> str:
        """`name`, else the setting, else the first installed model; an error when none is."""
        wanted = name or self.default_clip() or next(iter(self.clip_names()), "")
        return self.folders.find_clip(wanted or "ViT-L-14/openai").name

    def resolve_caption(self, name: str | None) -> str:
        wanted = name or self.default_caption() or next(iter(self.caption_names()), "")
        if not wanted:
            raise CaptionModelMissingError(
                f"No caption model is installed: put a transformers BLIP folder into {self.folders.caption_dir} "
                "(or use the 'negative' mode, which needs none).")
        return self.folders.find_caption(wanted).name

    # --- models --------------------------------------------------------------------------
    def _clip_key(self, name: str) -> str:
        from modules.interrogate.clip_loader import load_clip

        file = self.folders.find_clip(name)
        return self.placement.register(f"interrogate/clip/{name}", lambda: load_clip(file), kind="interrogator")

    def _caption_key(self, name: str) -> str:
        from modules.interrogate.caption_loader import load_caption

        folder = self.folders.find_caption(name)
        return self.placement.register(f"interrogate/caption/{name}", lambda: load_caption(folder),
                                       kind="interrogator")

    def _interrogator(self, name: str, clip: Any) -> LocalInterrogator:
        from modules.interrogate.session import build_interrogator

        ci = self._interrogators.get(name)
        if ci is None:
            sha = self.file_hash(name, self.folders.find_clip(name).path)
            ci, self.last_timing = build_interrogator(clip, sha, self.cache_root, self.placement.device,
                                                      self.term_lists)
            self._interrogators[name] = ci
        return ci

    def _run(self, clip_name: str | None, caption_name: str | None, fn: Callable[[Any], Any]) -> Any:
        from modules.interrogate.session import bind

        clip_name = self.resolve_clip(clip_name)
        keys = [self._clip_key(clip_name)]
        if caption_name is not None:
            keys.append(self._caption_key(caption_name))
        with self._lock, self.placement.use(keys) as parts, warnings.catch_warnings():
            # the package wraps every call in torch.cuda.amp.autocast(), deprecated and a no-op on the CPU
            warnings.filterwarnings("ignore", message=r".*autocast.*")
            clip = parts[keys[0]]
            caption = parts[keys[1]] if caption_name is not None else None
            ci = self._interrogator(clip_name, clip)
            bind(ci, clip, caption, self.placement.device)
            return fn(ci)

    # --- features ------------------------------------------------------------------------
    def prompt(self, image: Image.Image, clip_name: str | None = None, mode: str = "best",
               caption_name: str | None = None) -> str:
        """The prompt for `image` in `mode` (clip-interrogator-ext's `/interrogator/prompt`)."""
        modes.check_mode(mode)
        caption = self.resolve_caption(caption_name) if mode in modes.NEEDS_CAPTION else None
        image = image.convert("RGB")
        return self._run(clip_name, caption, lambda ci: modes.run_mode(ci, image, mode))

    def analyze(self, image: Image.Image, clip_name: str | None = None,
                labels: list[str] | None = None) -> dict[str, dict[str, float]]:
        """Top terms per list and the user's labels with probabilities (`/interrogator/analyze`)."""
        image = image.convert("RGB")
        return self._run(clip_name, None, lambda ci: modes.analyze(ci, image, labels))

    def unload(self) -> None:
        """Drop every interrogation model and table from memory (the disk cache stays)."""
        with self._lock:
            self._interrogators.clear()
            self.placement.unload()


def build_interrogate_service(args: Any, paths: Any, settings: Any, hash_cache: Any, device: Any,
                              models: Any = None) -> InterrogateService:
    """The app's service: folders from the flags, defaults from the settings, hashes cached, models
    as handles in the model cache (`--use-cpu interrogate`: on the CPU, beside the cache)."""
    import torch

    from modules.interrogate.placement import CachePlacement

    use_cpu = {x.lower() for x in getattr(args, "use_cpu", [])}
    from modules.deepbooru.model_file import FOLDER_NAME
    from modules.deepbooru.tags import TagOptions

    placement: Any
    if models is None or ("interrogate" in use_cpu and torch.device(device).type != "cpu"):
        placement = ModelPlacement(torch.device("cpu") if models is not None else torch.device(device))
    else:
        placement = CachePlacement(models)
    return InterrogateService(
        folders=InterrogateFolders.from_args(args, paths),
        cache_root=paths.cache_dir,
        placement=placement,
        file_hash=lambda name, path: hash_cache.get_or_compute("interrogate-clip", name, path),
        default_clip=lambda: str(settings.get("interrogate_clip_model_name") or ""),
        default_caption=lambda: str(settings.get("interrogate_caption_model_name") or ""),
        deepbooru=DeepBooruTagger(paths.models_dir / FOLDER_NAME, placement,
                                  lambda: TagOptions.from_settings(settings)))
