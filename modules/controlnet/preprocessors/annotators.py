"""Preprocessors that need annotator weights, run with controlnet-aux's networks, strictly offline.

Weights are looked up in the annotator folder (default `models/annotator/`, or
`--controlnet-annotator-models-path`), either directly or in the per-annotator subfolder the
extension's `annotator/downloads/<name>/` uses. Nothing is downloaded: a missing file is an error
that names the file and the folder to put it in. The `.pth` pickles are read with the project's
restricted unpickler and put into controlnet-aux's network classes here (its own `from_pretrained`
would use a plain `torch.load`).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modules.controlnet.preprocessors.image_ops import hwc3
from modules.controlnet.preprocessors.spec import Preprocessor, ProcessorCall, Slider
from modules.models.safe_unpickle import load_pickled_checkpoint


class AnnotatorMissingError(FileNotFoundError):
    """An annotator weight file is not on disk."""


class AnnotatorLoadError(ValueError):
    """An annotator file is there but does not hold the network the preprocessor needs."""


@dataclass(frozen=True)
class Annotator:
    """How to build one controlnet-aux detector from its weight file."""

    key: str  # subfolder name in the extension's downloads layout
    filename: str
    build: Callable[[Any], Any]  # state dict -> detector (several files: a list of state dicts)
    more_files: tuple[str, ...] = ()

    @property
    def files(self) -> tuple[str, ...]:
        return (self.filename, *self.more_files)


def _strip_module(state: dict[str, Any]) -> dict[str, Any]:
    return {k.replace("module.", ""): v for k, v in state.items()}


def _build_hed(state: Any) -> Any:
    from controlnet_aux.hed import ControlNetHED_Apache2, HEDdetector

    net = ControlNetHED_Apache2()
    net.load_state_dict(state)
    return HEDdetector(net.float().eval())


def _build_pidinet(state: Any) -> Any:
    from controlnet_aux.pidi import PidiNetDetector
    from controlnet_aux.pidi.model import pidinet

    net = pidinet()
    net.load_state_dict(_strip_module(state.get("state_dict", state)))
    return PidiNetDetector(net.eval())


def _build_mlsd(state: Any) -> Any:
    from controlnet_aux.mlsd import MLSDdetector
    from controlnet_aux.mlsd.models.mbv2_mlsd_large import MobileV2_MLSD_Large

    net = MobileV2_MLSD_Large()
    net.load_state_dict(state, strict=True)
    return MLSDdetector(net.eval())


def _build_lineart(state: Any) -> Any:
    from controlnet_aux.lineart import Generator, LineartDetector

    net = Generator(3, 1, 3)
    net.load_state_dict(state)
    net.eval()
    return LineartDetector(net, net)


def _build_lineart_anime(state: Any) -> Any:
    import torch.nn as nn
    from controlnet_aux.lineart_anime import LineartAnimeDetector, UnetGenerator

    norm = functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    net = UnetGenerator(3, 1, 8, 64, norm_layer=norm, use_dropout=False)
    net.load_state_dict(_strip_module(state))
    return LineartAnimeDetector(net.eval())


HED = Annotator("hed", "ControlNetHED.pth", _build_hed)
PIDINET = Annotator("pidinet", "table5_pidinet.pth", _build_pidinet)
MLSD = Annotator("mlsd", "mlsd_large_512_fp32.pth", _build_mlsd)
LINEART = Annotator("lineart", "sk_model.pth", _build_lineart)
LINEART_COARSE = Annotator("lineart", "sk_model2.pth", _build_lineart)
LINEART_ANIME = Annotator("lineart_anime", "netG.pth", _build_lineart_anime)


class AnnotatorStore:
    """Finds annotator files and keeps the built detectors (one per file) for reuse."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._detectors: dict[str, Any] = {}
        self._lock = threading.Lock()

    def locate(self, annotator: Annotator, filename: str | None = None) -> Path:
        name = filename or annotator.filename
        for candidate in (self.folder / name, self.folder / annotator.key / name):
            if candidate.is_file():
                return candidate
        raise AnnotatorMissingError(
            f"The preprocessor needs the annotator file '{name}', which is not in "
            f"'{self.folder}' (nor in '{self.folder / annotator.key}'). Put the file there; "
            "preprocessors never download anything.")

    def detector(self, annotator: Annotator) -> Any:
        paths = [self.locate(annotator, name) for name in annotator.files]
        with self._lock:
            key = "|".join(str(p) for p in paths)
            if key not in self._detectors:
                self._detectors[key] = self._build(annotator, paths)
            return self._detectors[key]

    def cached(self, key: str, build: Callable[[], Any]) -> Any:
        """The detector stored under `key`, built on first use (networks read from a folder, not a file)."""
        with self._lock:
            if key not in self._detectors:
                self._detectors[key] = build()
            return self._detectors[key]

    @staticmethod
    def _build(annotator: Annotator, paths: list[Path]) -> Any:
        states = [load_pickled_checkpoint(p) for p in paths]
        try:
            return annotator.build(states if len(states) > 1 else states[0])
        except (RuntimeError, KeyError, TypeError, AttributeError) as err:
            names = ", ".join(str(p) for p in paths)
            raise AnnotatorLoadError(
                f"The annotator file {names} does not hold the network the preprocessor needs ({err}); "
                "replace it with the extension's file of that name") from err

    def unload(self) -> None:
        with self._lock:
            self._detectors.clear()


def _aux_runner(annotator: Annotator, **options: Any) -> Callable[[AnnotatorStore], Any]:
    def bind(store: AnnotatorStore) -> Callable[[np.ndarray, ProcessorCall], np.ndarray]:
        def run(image: np.ndarray, call: ProcessorCall) -> np.ndarray:
            detector = store.detector(annotator)
            extra = dict(options)
            if annotator is MLSD:
                extra.update(thr_v=call.threshold_a, thr_d=call.threshold_b)
            out = detector(image, detect_resolution=call.resolution, image_resolution=call.resolution,
                           output_type="np", **extra)
            return hwc3(np.asarray(out))
        return run
    return bind


_SPECS: tuple[tuple[str, str | None, tuple[str, ...], Annotator, dict[str, Any]], ...] = (
    ("hed", "softedge_hed", ("SoftEdge",), HED, {}),
    ("hed_safe", "softedge_hedsafe", ("SoftEdge",), HED, {"safe": True}),
    ("scribble_hed", None, ("Scribble/Sketch",), HED, {"scribble": True}),
    ("pidinet", "softedge_pidinet", ("SoftEdge",), PIDINET, {}),
    ("pidinet_safe", "softedge_pidisafe", ("SoftEdge",), PIDINET, {"safe": True}),
    ("pidinet_scribble", "scribble_pidinet", ("Scribble/Sketch",), PIDINET, {"scribble": True}),
    ("pidinet_ts", "t2ia_sketch_pidi", ("T2I-Adapter",), PIDINET, {"apply_filter": True}),  # sketch adapter
    ("mlsd", None, ("MLSD",), MLSD, {}),
    ("lineart", "lineart_realistic", ("Lineart",), LINEART, {}),
    ("lineart_coarse", None, ("Lineart",), LINEART_COARSE, {"coarse": True}),
    ("lineart_anime", None, ("Lineart",), LINEART_ANIME, {}),
)


def annotator_preprocessors(store: AnnotatorStore) -> list[Preprocessor]:
    """The weight-needing preprocessors, bound to one annotator folder."""
    out = []
    for name, alias, tags, annotator, options in _SPECS:
        sliders: dict[str, Slider] = {}
        if annotator is MLSD:
            sliders = {"threshold_a": Slider("MLSD Value Threshold", 0.1, 0.01, 2.0, 0.01),
                       "threshold_b": Slider("MLSD Distance Threshold", 0.1, 0.01, 20.0, 0.01)}
        out.append(Preprocessor(name, _aux_runner(annotator, **options)(store), tags, alias=alias,
                                annotator_files=annotator.files, **sliders))
    return out
