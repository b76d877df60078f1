"""Which face restorers and face detector are installed, and loading them.

Restorers: the first model file spandrel loads as a face model in `models/GFPGAN/` ("GFPGAN";
GFPGAN or RestoreFormer weights) and `models/Codeformer/` ("CodeFormer"; its architecture comes
from the spandrel_extra_arches package). Detector: OpenCV's YuNet, an `.onnx` file in
`models/face_detection/`. A missing file is an error naming the file kind and the folder.

With the app's model cache a restorer is a cache handle (loaded once, placed on the compute
device while it runs, evicted like any other handle); without one (tests) it is loaded per use.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESTORER_FOLDERS = {"CodeFormer": ("Codeformer", "codeformer_models_path"),
                    "GFPGAN": ("GFPGAN", "gfpgan_models_path")}
DETECTOR_FOLDER = "face_detection"
DETECTOR_FILE = "face_detection_yunet_2023mar.onnx"
EXTRA_ARCHES_PIN = "spandrel_extra_arches==0.2.0"


class FaceRestorationError(ValueError):
    """A restorer or detector that is missing or broken; the message names the file and folder."""


def face_registry() -> Any:
    """spandrel's architectures plus the extra ones (CodeFormer), without changing spandrel's global
    registry; just spandrel's own when the extra package is not installed."""
    from spandrel import MAIN_REGISTRY

    try:
        from spandrel_extra_arches import EXTRA_REGISTRY
    except ImportError:
        return MAIN_REGISTRY
    registry = MAIN_REGISTRY.copy()
    registry.add(*EXTRA_REGISTRY, ignore_duplicates=True)
    return registry


def _unsupported_reason(name: str) -> str:
    if name != "CodeFormer":
        return "spandrel does not recognise it as a face restorer (GFPGAN or RestoreFormer weights work)"
    try:
        import spandrel_extra_arches  # noqa: F401
    except ImportError:
        return f"CodeFormer needs the spandrel_extra_arches package: pip install '{EXTRA_ARCHES_PIN}'"
    return "spandrel does not recognise it as a CodeFormer model (use codeformer.pth v0.1.0 or its safetensors)"


def load_face_descriptor(path: Path, name: str) -> Any:
    """The spandrel descriptor of a face restorer file, in eval mode on the CPU; every failure is a
    FaceRestorationError naming the file, its folder and the fix."""
    from spandrel import ModelLoader, UnsupportedModelError

    from modules.upscalers.model_loading import read_state_dict

    try:
        descriptor = ModelLoader(registry=face_registry()).load_from_state_dict(read_state_dict(path))
    except UnsupportedModelError:
        raise FaceRestorationError(f"{path.name} in {path.parent} cannot be used as {name}: "
                                   f"{_unsupported_reason(name)}") from None
    except Exception as err:  # noqa: BLE001 - any load failure is the file's fault
        raise FaceRestorationError(f"{path.name} in {path.parent} cannot be used as {name}: {err}") from None
    if str(descriptor.purpose) != "FaceSR":
        raise FaceRestorationError(f"{path.name} is a {descriptor.architecture.name} model, not a face "
                                   f"restorer; remove it from {path.parent}")
    descriptor.model.eval()
    return descriptor


@dataclass(frozen=True)
class FaceModels:
    folders: dict[str, Path]  # restorer name -> folder
    detector_folder: Path
    detector: Any = None  # an object with landmarks(rgb) -> [5x2 arrays]; None: YuNet from detector_folder
    cache: Any = None  # the app's ModelCache (None: load on every use)

    @classmethod
    def from_args(cls, args: argparse.Namespace, models_dir: Path, cache: Any = None) -> FaceModels:
        folders = {}
        for name, (folder, dest) in RESTORER_FOLDERS.items():
            flag = getattr(args, dest, None)
            folders[name] = Path(flag).expanduser().resolve() if flag else models_dir / folder
        return cls(folders, models_dir / DETECTOR_FOLDER, cache=cache)

    def restorer_file(self, name: str) -> Path | None:
        from modules.upscalers.folders import model_files

        folder = self.folders.get(name)
        files = model_files(folder) if folder is not None else []
        return files[0] if files else None

    def installed(self) -> list[dict[str, Any]]:
        """A1111's `/sdapi/v1/face-restorers` items for the restorers whose folder holds a model file."""
        return [{"name": name, "cmd_dir": str(self.folders[name])} for name in self.folders
                if self.restorer_file(name) is not None]

    def _require_file(self, name: str) -> Path:
        if name not in self.folders:
            raise FaceRestorationError(f"unknown face restorer {name!r}; choose one of {', '.join(self.folders)}")
        path = self.restorer_file(name)
        if path is None:
            raise FaceRestorationError(f"no {name} model: put a {name} .safetensors or .pth file into "
                                       f"{self.folders.get(name)}")
        return path

    def load_restorer(self, name: str) -> Any:
        """The restorer `name` freshly loaded on the CPU (no cache)."""
        return load_face_descriptor(self._require_file(name), name)

    @contextmanager
    def using(self, name: str, unload: bool = False) -> Iterator[Any]:
        """The restorer `name` ready to run: through the model cache when there is one. `unload`
        (A1111's `face_restoration_unload`) moves it off the compute device after the scope."""
        path = self._require_file(name)
        if self.cache is None:
            yield load_face_descriptor(path, name)
            return
        from modules.models.handles import ModelHandle

        stat = path.stat()
        key = f"face_restorer/{name}/{path.name} [{stat.st_mtime_ns}]"
        self.cache.register(ModelHandle(key, load=lambda: load_face_descriptor(path, name),
                                        kind="face_restorer", size_bytes=stat.st_size))
        try:
            with self.cache.use(key) as loaded:
                yield loaded
        finally:
            if unload:
                self.cache.offload(key)

    def detector_file(self) -> Path:
        files = sorted(self.detector_folder.glob("*.onnx")) if self.detector_folder.is_dir() else []
        if not files:
            raise FaceRestorationError(f"no face detector: put OpenCV's YuNet model ({DETECTOR_FILE}) into "
                                       f"{self.detector_folder}")
        return files[0]
