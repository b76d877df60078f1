"""TEED soft edges (`te_hed`, shown as `softedge_teed`) and Anyline (`softedge_anyline`), offline.

Both run controlnet-aux's TED network (TEED, 59k parameters) with weights read through the
restricted unpickler: TEED's BIPED checkpoint `7_model.pth`, and for Anyline TheMistoAI's
`MTEED.pth`, both in the extension's `TEED/` annotator subfolder. As the extension does, the
image is edge-padded to multiples of 64, the network's four edge maps are averaged, put through a
sigmoid and quantised by the Safe Steps slider (0 = no quantising), and the padding is cropped.
Anyline then marks, on the MTEED map, the pixels where the `lineart_standard` map is exactly 1
(after dropping specks under 36 pixels) with the value 1, the extension's way of combining them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from modules.controlnet.preprocessors.annotators import Annotator, AnnotatorStore
from modules.controlnet.preprocessors.image_ops import hwc3
from modules.controlnet.preprocessors.model_free import run_lineart_standard
from modules.controlnet.preprocessors.spec import RESOLUTION, Preprocessor, ProcessorCall, Slider

_SAFE_STEPS = Slider("Safe Steps", 2, 0, 10, 1)
_ANYLINE_RESOLUTION = Slider(RESOLUTION.name, 1280, RESOLUTION.min, RESOLUTION.max, RESOLUTION.step)
_MIN_SPECK = 36  # lineart pixel groups smaller than this are dropped before combining


def _build_ted(state: Any) -> Any:
    from controlnet_aux.teed.ted import TED

    net = TED()
    net.load_state_dict(state.get("state_dict", state) if isinstance(state, dict) else state)
    return net.float().eval()


TEED = Annotator("TEED", "7_model.pth", _build_ted)
MTEED = Annotator("TEED", "MTEED.pth", _build_ted)


def _pad64(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    return np.pad(image, ((0, -h % 64), (0, -w % 64), (0, 0)), mode="edge")


def teed_edges(net: Any, image: np.ndarray, safe_steps: int) -> np.ndarray:
    """The soft-edge map (H, W) uint8 of an RGB image."""
    import torch
    from controlnet_aux.util import safe_step

    h, w = image.shape[:2]
    padded = _pad64(image)
    with torch.no_grad():
        outs = net(torch.from_numpy(padded.copy()).float().permute(2, 0, 1)[None])
    size = (padded.shape[1], padded.shape[0])
    maps = np.stack([cv2.resize(o[0, 0].numpy().astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
                     for o in outs], axis=2)
    edge = 1 / (1 + np.exp(-maps.mean(axis=2).astype(np.float64)))
    if safe_steps:
        edge = safe_step(edge, safe_steps)
    return (edge * 255.0).clip(0, 255).astype(np.uint8)[:h, :w]


def anyline_map(edges: np.ndarray, image: np.ndarray, call: ProcessorCall) -> np.ndarray:
    """The MTEED map with the lineart pixels of value exactly 1 (specks removed) set to 1."""
    from skimage import morphology

    lineart = hwc3(run_lineart_standard(image, call))[..., 0]
    ones = morphology.remove_small_objects(lineart == 1, min_size=_MIN_SPECK, connectivity=1)
    out = edges.copy()
    out[ones] = 1
    return out


def _runner(store: AnnotatorStore, annotator: Annotator, anyline: bool
            ) -> Callable[[np.ndarray, ProcessorCall], np.ndarray]:
    def run(image: np.ndarray, call: ProcessorCall) -> np.ndarray:
        edges = teed_edges(store.detector(annotator), image, int(call.threshold_a))
        return hwc3(anyline_map(edges, image, call) if anyline else edges)
    return run


def teed_preprocessors(store: AnnotatorStore) -> list[Preprocessor]:
    return [
        Preprocessor("te_hed", _runner(store, TEED, False), ("SoftEdge",), alias="softedge_teed",
                     threshold_a=_SAFE_STEPS, annotator_files=TEED.files),
        Preprocessor("softedge_anyline", _runner(store, MTEED, True), ("SoftEdge",), threshold_a=_SAFE_STEPS,
                     annotator_files=MTEED.files, resolution=_ANYLINE_RESOLUTION),
    ]
