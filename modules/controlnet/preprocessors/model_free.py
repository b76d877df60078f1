"""Preprocessors that need no weights, written with OpenCV and numpy.

Each takes an RGB uint8 image (already at the processor resolution when it uses one) and returns
the control map as RGB uint8. Default thresholds and slider ranges are the extension's, so API
clients that send -1 get the same maps they are used to.
"""

from __future__ import annotations

import cv2
import numpy as np

from modules.controlnet.preprocessors.image_ops import grey, hwc3
from modules.controlnet.preprocessors.inpaint import inpaint_preprocessors
from modules.controlnet.preprocessors.spec import Preprocessor, ProcessorCall, Slider


def run_none(image: np.ndarray, call: ProcessorCall) -> np.ndarray:
    return image


def run_invert(image: np.ndarray, call: ProcessorCall) -> np.ndarray:
    """Black lines on white (what people draw) -> white on black (what line models take)."""
    return 255 - image


def run_canny(image: np.ndarray, call: ProcessorCall) -> np.ndarray:
    return hwc3(cv2.Canny(image, int(call.threshold_a), int(call.threshold_b)))


def run_lineart_standard(image: np.ndarray, call: ProcessorCall) -> np.ndarray:
    """Lines = where a pixel is darker than its blurred surroundings, normalised by the typical
    strength of such differences so faint drawings and bold ones give similar maps."""
    x = image.astype(np.float32)
    surroundings = cv2.GaussianBlur(x, (0, 0), 6.0)
    darkness = np.min(surroundings - x, axis=2).clip(0, 255)
    strong = darkness[darkness > 8]
    scale = max(16.0, float(np.median(strong))) if strong.size else 16.0
    return hwc3((darkness / scale * 127.0).clip(0, 255).astype(np.uint8))


def run_blur_gaussian(image: np.ndarray, call: ProcessorCall) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), max(0.01, call.threshold_a))


def run_threshold(image: np.ndarray, call: ProcessorCall) -> np.ndarray:
    return hwc3(np.where(grey(image) > call.threshold_a, 255, 0).astype(np.uint8))


def run_binary(image: np.ndarray, call: ProcessorCall) -> np.ndarray:
    """Threshold 0 picks the level automatically (Otsu); the map is inverted like the extension's."""
    g = grey(image)
    if call.threshold_a <= 0:
        _, out = cv2.threshold(g, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    else:
        _, out = cv2.threshold(g, call.threshold_a, 255, cv2.THRESH_BINARY_INV)
    return hwc3(out)


def run_color_grid(image: np.ndarray, call: ProcessorCall) -> np.ndarray:
    """The T2I colour adapter's input: the picture as a grid of 64-pixel colour cells."""
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, w // 64), max(1, h // 64)), interpolation=cv2.INTER_CUBIC)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)


def run_scribble_xdog(image: np.ndarray, call: ProcessorCall) -> np.ndarray:
    """Difference of Gaussians: white strokes where fine detail stands out from the coarse blur."""
    x = image.astype(np.float32)
    fine, coarse = cv2.GaussianBlur(x, (0, 0), 0.5), cv2.GaussianBlur(x, (0, 0), 5.0)
    detail = np.min(coarse - fine, axis=2).clip(0, 255)
    return hwc3(np.where(2.0 * detail > call.threshold_a, 255, 0).astype(np.uint8))


def run_shuffle(image: np.ndarray, call: ProcessorCall) -> np.ndarray:
    """Content shuffle: warp the picture along smooth random flows (seeded, so it is repeatable)."""
    h, w = image.shape[:2]
    rng = np.random.default_rng(call.seed)
    flows = []
    for _ in range(2):
        cells = rng.random((max(2, h // 64), max(2, w // 64))).astype(np.float32)
        flows.append(cv2.resize(cells, (w, h), interpolation=cv2.INTER_CUBIC))
    map_x = (flows[0] * (w - 1)).astype(np.float32)
    map_y = (flows[1] * (h - 1)).astype(np.float32)
    return cv2.remap(image, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def run_tile_resample(image: np.ndarray, call: ProcessorCall) -> np.ndarray:
    """Downsample by the rate (1 = unchanged): the tile model re-adds the detail."""
    rate = max(1.0, call.threshold_a)
    if rate <= 1.0:
        return image
    h, w = image.shape[:2]
    return cv2.resize(image, (max(1, round(w / rate)), max(1, round(h / rate))), interpolation=cv2.INTER_AREA)


def _recolor(channel: np.ndarray, gamma: float) -> np.ndarray:
    level = (channel.astype(np.float32) / 255.0) ** max(0.01, gamma)
    return hwc3((level * 255.0).clip(0, 255).astype(np.uint8))


def run_recolor_luminance(image: np.ndarray, call: ProcessorCall) -> np.ndarray:
    return _recolor(cv2.cvtColor(image, cv2.COLOR_RGB2LAB)[:, :, 0], call.threshold_a)


def run_recolor_intensity(image: np.ndarray, call: ProcessorCall) -> np.ndarray:
    return _recolor(cv2.cvtColor(image, cv2.COLOR_RGB2HSV)[:, :, 2], call.threshold_a)


def model_free_preprocessors() -> list[Preprocessor]:
    """The weight-free preprocessors, in the extension's names (its UI aliases in `alias`)."""
    gamma = Slider("Gamma Correction", 1.0, 0.1, 2.0, 0.001)
    return [
        Preprocessor("none", run_none, ("All",), uses_resolution=False),
        Preprocessor("invert", run_invert, ("Lineart", "Scribble/Sketch", "Canny", "MLSD"),
                     alias="invert (from white bg & black line)"),
        Preprocessor("canny", run_canny, ("Canny",), threshold_a=Slider("Canny Low Threshold", 100, 1, 255),
                     threshold_b=Slider("Canny High Threshold", 200, 1, 255)),
        Preprocessor("lineart_standard", run_lineart_standard, ("Lineart",),
                     alias="lineart_standard (from white bg & black line)"),
        Preprocessor("blur_gaussian", run_blur_gaussian, ("Tile/Blur",),
                     threshold_a=Slider("Sigma", 9.0, 0.01, 64.0, 0.01)),
        Preprocessor("threshold", run_threshold, ("Scribble/Sketch",),
                     threshold_a=Slider("Binarization Threshold", 127, 0, 255)),
        Preprocessor("binary", run_binary, ("Scribble/Sketch",),
                     threshold_a=Slider("Binary threshold", 0, 0, 255)),
        Preprocessor("color", run_color_grid, ("T2I-Adapter",), alias="t2ia_color_grid"),
        Preprocessor("scribble_xdog", run_scribble_xdog, ("Scribble/Sketch",),
                     threshold_a=Slider("XDoG Threshold", 32, 1, 64)),
        Preprocessor("shuffle", run_shuffle, ("Shuffle",)),
        Preprocessor("tile_resample", run_tile_resample, ("Tile/Blur",), uses_resolution=False,
                     threshold_a=Slider("Down Sampling Rate", 1.0, 1.0, 8.0, 0.01)),
        Preprocessor("recolor_luminance", run_recolor_luminance, ("Recolor",), threshold_a=gamma),
        Preprocessor("recolor_intensity", run_recolor_intensity, ("Recolor",), threshold_a=gamma),
        *inpaint_preprocessors(),
    ]
