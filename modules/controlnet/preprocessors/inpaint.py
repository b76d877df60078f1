"""The inpaint preprocessor ("inpaint", shown as inpaint_global_harmonious): the control map is the
image itself; the unit's inpaint mask travels beside it and marks the pixels to repaint (the hint
is -1 there, as the extension feeds inpaint ControlNets). See modules/controlnet/unit_masks.py."""

from __future__ import annotations

import numpy as np

from modules.controlnet.preprocessors.spec import Preprocessor, ProcessorCall


def run_inpaint(image: np.ndarray, call: ProcessorCall) -> np.ndarray:
    return image


def inpaint_preprocessors() -> list[Preprocessor]:
    return [Preprocessor("inpaint", run_inpaint, ("Inpaint",), alias="inpaint_global_harmonious",
                         uses_resolution=False)]
