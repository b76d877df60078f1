"""Which face restorers and face detector are installed, and loading them.

Restorers: the first model file spandrel loads as a face model in `models/GFPGAN/` ("GFPGAN";
GFPGAN or RestoreFormer weights) and `models/Codeformer/` ("CodeFormer"; needs the
spandrel_extra_arches package). Detector: OpenCV's YuNet, an `.onnx` file in `models/face_detection/`.
A missing file is an error naming the file kind and the folder.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESTORER_FOLDERS = {"CodeFormer": ("Codeformer", "codeformer_models_path"),
                    "GFPGAN": ("GFPGAN", "gfpgan_models_path")}
DETECTOR_FOLDER = "face_detection"
DETECTOR_FILE = "face_detection_yunet_2023mar.onnx"


class FaceRestorationError(ValueError):
    """A restorer or detector that is missing or broken; the message names the file and folder."""


@dataclass(frozen=True)
class FaceModels:
    folders: dict[str, Path]  # restorer name -> folder
    detector_folder: Path
    detector: Any = None  # an object with landmarks(rgb) -> [5x2 arrays]; None: YuNet from detector_folder

    @classmethod
    def from_args(cls, args: argparse.Namespace, models_dir: Path) -> FaceModels:
        folders = {}
        for name, (folder, dest) in RESTORER_FOLDERS.items():
            flag = getattr(args, dest, None)
            folders[name] = Path(flag).expanduser().resolve() if flag else models_dir / folder
        return cls(folders, models_dir / DETECTOR_FOLDER)

    def restorer_file(self, name: str) -> Path | None:
        from modules.upscalers.folders import model_files

        folder = self.folders.get(name)
        files = model_files(folder) if folder is not None else []
        return files[0] if files else None

    def installed(self) -> list[dict[str, Any]]:
        """A1111's `/sdapi/v1/face-restorers` items for the restorers whose folder holds a model file."""
        return [{"name": name, "cmd_dir": str(self.folders[name])} for name in self.folders
                if self.restorer_file(name) is not None]

    def load_restorer(self, name: str) -> Any:
        from modules.upscalers.model_loading import UpscalerLoadError, read_state_dict

        path = self.restorer_file(name)
        if path is None:
            raise FaceRestorationError(f"no {name} model: put a {name} .safetensors or .pth file into "
                                       f"{self.folders.get(name)}")
        try:
            from spandrel import ModelLoader

            try:
                import spandrel_extra_arches  # noqa: F401 - CodeFormer lives there

                spandrel_extra_arches.install()
            except ImportError:
                pass
            descriptor = ModelLoader().load_from_state_dict(read_state_dict(path))
        except (UpscalerLoadError, Exception) as err:  # noqa: BLE001 - any load failure is the file's fault
            raise FaceRestorationError(f"{path.name} in {path.parent} cannot be used as {name}: {err}") from None
        if str(descriptor.purpose) != "FaceSR":
            raise FaceRestorationError(f"{path.name} is a {descriptor.architecture.name} model, not a face "
                                       f"restorer; remove it from {path.parent}")
        descriptor.model.eval()
        return descriptor

    def detector_file(self) -> Path:
        files = sorted(self.detector_folder.glob("*.onnx")) if self.detector_folder.is_dir() else []
        if not files:
            raise FaceRestorationError(f"no face detector: put OpenCV's YuNet model ({DETECTOR_FILE}) into "
                                       f"{self.detector_folder}")
        return files[0]
