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
                         uses_resolution=False),
            # the same map; outside an inpaint job the unit's picture is pasted back outside the mask
            # after generation (modules/controlnet/inpaint_only.py)
            Preprocessor("inpaint_only", run_inpaint, ("Inpaint",), uses_resolution=False)]
