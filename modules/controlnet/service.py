"""The app's ControlNet state: model folders, the preprocessors, and ControlNet model handles.

One instance per Runtime (no module-level state). ControlNet models are registered in the app's
model cache as handles (`controlnet/<title>@<family>`), so they follow the same memory policy and
RAM LRU as every other model; the engine places them beside the UNet while sampling.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from modules.controlnet.model_files import (
    NONE_MODEL,
    ControlNetFile,
    find_controlnet_model,
    is_none_model,
    scan_controlnet_models,
)
from modules.controlnet.model_loading import LoadedControlNet, checkpoint_family, load_controlnet
from modules.controlnet.preprocessors.registry import PreprocessorRegistry
from modules.controlnet.preprocessors.spec import ProcessorCall
from modules.models.sd_model import LoadedModel

API_VERSION = 3
DEFAULT_UNIT_COUNT = 3


class UnknownControlNetModelError(LookupError):
    def __str__(self) -> str:
        return str(self.args[0])


class ControlNetService:
    """Lists models, resolves unit names, runs preprocessors and provides model handles."""

    def __init__(self, model_dirs: list[Path], annotator_dir: Path, detected_maps_dir: Path | None = None) -> None:
        self.model_dirs = [Path(d) for d in model_dirs]
        self.annotator_dir = Path(annotator_dir)
        self.detected_maps_dir = Path(detected_maps_dir) if detected_maps_dir else None
        self.preprocessors = PreprocessorRegistry(self.annotator_dir)
        self._models: list[ControlNetFile] | None = None
        self._lock = threading.Lock()
        self._loaded: dict[str, LoadedControlNet] = {}

    # --- model list --------------------------------------------------------------------
    def models(self, refresh: bool = False) -> list[ControlNetFile]:
        with self._lock:
            if self._models is None or refresh:
                self._models = scan_controlnet_models(self.model_dirs)
            return list(self._models)

    def model_titles(self, refresh: bool = False) -> list[str]:
        return [NONE_MODEL] + [m.title for m in self.models(refresh)]

    def find_model(self, name: str) -> ControlNetFile:
        found = find_controlnet_model(name, self.models())
        if found is None:
            found = find_controlnet_model(name, self.models(refresh=True))
        if found is None:
            raise UnknownControlNetModelError(
                f"ControlNet model '{name}' is not in {', '.join(str(d) for d in self.model_dirs)}; "
                "GET /controlnet/model_list lists the models")
        return found

    def check_model_name(self, name: str) -> None:
        if not is_none_model(name):
            self.find_model(name)

    # --- loading -----------------------------------------------------------------------
    def handle_key(self, entry: ControlNetFile, model: LoadedModel) -> str:
        return f"controlnet/{entry.title}@{checkpoint_family(model.family)}"

    def register_handle(self, cache: Any, entry: ControlNetFile, model: LoadedModel) -> str:
        """Register (once) the handle that loads `entry` for checkpoints like `model`."""
        from modules.models.handles import ModelHandle

        key = self.handle_key(entry, model)
        if cache.handle(key) is None:
            unet_config = dict(model.unet.config)
            family = model.family
            dtype = cache.policy.dtype("unet")

            def load() -> Any:
                import torch

                loaded = load_controlnet(entry, unet_config, family, torch.device("cpu"), dtype)
                loaded.model.controlnet_global_pooling = loaded.global_pooling
                return loaded.model

            cache.register(ModelHandle(key, load=load, kind="controlnet"))
        return key

    def load_direct(self, entry: ControlNetFile, model: LoadedModel) -> Any:
        """Without a model cache (bare engine tests): load once per key and keep it here."""

        key = self.handle_key(entry, model)
        if key not in self._loaded:
            device = next(model.unet.parameters()).device
            dtype = next(model.unet.parameters()).dtype
            loaded = load_controlnet(entry, dict(model.unet.config), model.family, device, dtype)
            loaded.model.controlnet_global_pooling = loaded.global_pooling
            self._loaded[key] = loaded
        return self._loaded[key].model

    # --- preprocessing -----------------------------------------------------------------
    def detect(self, module: str, image: Image.Image | np.ndarray, processor_res: int = -1,
               threshold_a: float = -1, threshold_b: float = -1, seed: int = 0) -> tuple[np.ndarray, ProcessorCall]:
        return self.preprocessors.run(module, image, processor_res, threshold_a, threshold_b, seed)

    def save_detected_map(self, module: str, detected: np.ndarray) -> Path | None:
        """`<data>/detected_maps/<module>/<time>-<n>.png`, as the extension's autosaving names them."""
        if self.detected_maps_dir is None:
            return None
        import time

        folder = self.detected_maps_dir / module
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        n = len(list(folder.glob(f"{stamp}-*.png")))
        path = folder / f"{stamp}-{n:03d}.png"
        Image.fromarray(detected).save(path)
        return path

    def unload_annotators(self) -> None:
        self.preprocessors.annotators.unload()
