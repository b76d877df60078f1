"""What the ControlNet engine tests share: a small job, a two-position control image, a run with
units, a pixel difference and a feature that adds one UNet wrapper (a spy after ControlNet's)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from PIL import Image

from modules.controlnet.feature import ControlNetFeature
from modules.controlnet.service import ControlNetService
from modules.engine.features import Contribution
from modules.engine.generate import generate
from modules.engine.request import GenerationRequest
from tests.engine_helpers import pixels

SMALL = dict(width=64, height=64, steps=4, cfg_scale=5.0, sampler_name="Euler", save_images=False, seed=11)


def control_image(left: bool = True) -> Image.Image:
    """A white block in the top-left (or, with left=False, the bottom-right) of a black 64² image."""
    image = np.zeros((64, 64, 3), np.uint8)
    if left:
        image[8:40, 4:30] = 255
    else:
        image[24:56, 34:60] = 255
    return Image.fromarray(image)


def run_units(ctx: Any, service: ControlNetService, units: list[dict], extra_features: tuple = (), **req: Any):
    """One txt2img job of SMALL (overridden by `req`) with these ControlNet units."""
    request = GenerationRequest(prompt="a red circle", alwayson_scripts={"controlnet": {"args": units}},
                                **{**SMALL, **req})
    return generate(request, dataclasses.replace(ctx, features=(ControlNetFeature(service), *extra_features)))


def mean_diff(a: Any, b: Any) -> float:
    """Mean absolute pixel difference of two results' first images."""
    return float(np.abs(pixels(a.images[0]) - pixels(b.images[0])).mean())


class WrapperFeature:
    """A job feature that adds `spy` as a UNet wrapper (it runs after ControlNet's)."""

    name = "spy"

    def __init__(self, spy: Any) -> None:
        self.spy = spy

    def contribute(self, setup: Any, pass_: Any) -> Contribution:
        return Contribution(unet_wrappers=[self.spy])
