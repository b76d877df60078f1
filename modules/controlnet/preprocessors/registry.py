"""All preprocessors by name and alias, the extension's Control Types, and running one on an image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from modules.controlnet.preprocessors.annotators import AnnotatorStore, annotator_preprocessors
from modules.controlnet.preprocessors.depth_annotators import depth_preprocessors
from modules.controlnet.preprocessors.depth_anything import depth_anything_preprocessors
from modules.controlnet.preprocessors.dwpose import dwpose_preprocessors
from modules.controlnet.preprocessors.image_ops import hwc3, resize_short_side
from modules.controlnet.preprocessors.model_free import model_free_preprocessors
from modules.controlnet.preprocessors.openpose import openpose_preprocessors
from modules.controlnet.preprocessors.segmentation import segmentation_preprocessors
from modules.controlnet.preprocessors.spec import Detected, Preprocessor, ProcessorCall
from modules.controlnet.preprocessors.teed import teed_preprocessors
from modules.controlnet.preprocessors.unsupported import unsupported_reason

# Control Type -> (preprocessor tag, model-name keywords, default preprocessor). Order as the extension shows.
CONTROL_TYPES: dict[str, tuple[tuple[str, ...], str]] = {
    "All": ((), "none"),
    "Canny": (("canny",), "canny"),
    "Depth": (("depth",), "depth"),
    "NormalMap": (("normal",), "normal_bae"),
    "MLSD": (("mlsd",), "mlsd"),
    "OpenPose": (("openpose", "pose"), "openpose"),
    "Lineart": (("lineart",), "lineart_standard"),
    "SoftEdge": (("softedge", "hed", "pidi"), "hed"),
    "Scribble/Sketch": (("scribble", "sketch"), "scribble_xdog"),
    "Segmentation": (("seg",), "oneformer_ade20k"),
    "Shuffle": (("shuffle",), "shuffle"),
    "Tile/Blur": (("tile", "blur"), "tile_resample"),
    "Inpaint": (("inpaint",), "inpaint"),
    "Recolor": (("recolor",), "recolor_luminance"),
    "T2I-Adapter": (("t2i", "t2ia"), "color"),
}


class UnknownPreprocessorError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


class PreprocessorRegistry:
    """The preprocessors of one app (annotators bound to its annotator folder)."""

    def __init__(self, annotator_dir: Path) -> None:
        self.annotators = AnnotatorStore(annotator_dir)
        self._all = (model_free_preprocessors() + annotator_preprocessors(self.annotators)
                     + depth_preprocessors(self.annotators) + openpose_preprocessors(self.annotators)
                     + dwpose_preprocessors(self.annotators) + depth_anything_preprocessors(self.annotators)
                     + segmentation_preprocessors(self.annotators) + teed_preprocessors(self.annotators))
        self._by_name: dict[str, Preprocessor] = {}
        for p in self._all:
            self._by_name[p.name.lower()] = p
            if p.alias:
                self._by_name.setdefault(p.alias.lower(), p)

    def add(self, pre: Preprocessor) -> None:
        """Add an extension's preprocessor (listed after the built-ins); a clash is an error."""
        for name in filter(None, (pre.name, pre.alias)):
            if name.lower() in self._by_name:
                raise ValueError(f"A preprocessor named {name!r} is already registered")
        self._all.append(pre)
        self._by_name[pre.name.lower()] = pre
        if pre.alias:
            self._by_name[pre.alias.lower()] = pre

    def all(self) -> list[Preprocessor]:
        return list(self._all)

    def canonical(self, name: str) -> str | None:
        """The internal name for a name or alias (None: unknown)."""
        found = self._by_name.get(str(name).strip().lower())
        return found.name if found else None

    def get(self, name: str) -> Preprocessor:
        found = self._by_name.get(str(name).strip().lower())
        if found is None:
            raise UnknownPreprocessorError(
                unsupported_reason(name)
                or f"Preprocessor '{name}' is not available; GET /controlnet/module_list lists the preprocessors")
        return found

    def module_list(self, alias_names: bool = False) -> list[str]:
        return [p.display_name if alias_names else p.name for p in self._all]

    def module_detail(self, alias_names: bool = False) -> dict[str, Any]:
        return {(p.display_name if alias_names else p.name): {"model_free": p.model_free, "sliders": p.sliders()}
                for p in self._all}

    def control_types(self, model_titles: list[str]) -> dict[str, Any]:
        """The extension's `/controlnet/control_types`: per type its preprocessors and matching models."""
        out = {}
        for tag, (keywords, default) in CONTROL_TYPES.items():
            modules = [p.name for p in self._all if tag == "All" or tag in p.tags]
            if "none" not in modules:
                modules.insert(0, "none")
            models = ["None"] + [t for t in model_titles if not keywords or any(k in t.lower() for k in keywords)]
            out[tag] = {"module_list": modules, "model_list": models, "default_option": default,
                        "default_model": models[1] if len(models) > 1 and tag != "All" else "None"}
        return out

    def run(self, name: str, image: Image.Image | np.ndarray, processor_res: int = -1, threshold_a: float = -1,
            threshold_b: float = -1, seed: int = 0, mask: np.ndarray | None = None) -> tuple[np.ndarray, ProcessorCall]:
        """The detected map (RGB uint8) and the resolved values the infotext records."""
        detected, call = self.run_detected(name, image, processor_res, threshold_a, threshold_b, seed, mask)
        return detected.image, call

    def run_detected(self, name: str, image: Image.Image | np.ndarray, processor_res: int = -1,
                     threshold_a: float = -1, threshold_b: float = -1, seed: int = 0,
                     mask: np.ndarray | None = None) -> tuple[Detected, ProcessorCall]:
        """As `run`, with what the preprocessor found besides the map (the OpenPose keypoint JSON)."""
        pre = self.get(name)
        pixels = hwc3(np.asarray(image.convert("RGBA") if isinstance(image, Image.Image) else image))
        call = pre.resolve(processor_res, threshold_a, threshold_b, seed, mask)
        if pre.uses_resolution:
            pixels = resize_short_side(pixels, call.resolution)
        out = pre.run(np.ascontiguousarray(pixels), call)
        if isinstance(out, Detected):
            return Detected(hwc3(out.image), out.pose), call
        return Detected(hwc3(out)), call
