"""The refiner job feature (A1111 1.10's "Refiner"): another checkpoint finishes the sampling.

With `refiner_checkpoint`, the pass the refiner applies to stops at `refiner_switch_at` and a
"refiner" pass continues the same sampler over the remaining sigmas of the same schedule, on the
latent as it is (no new noise), with the refiner's UNet and its own text encoders' conditioning.
When is the switch: A1111's rule, by sigma (the step whose timestep has (999 - t) / 1000 >= switch
at), or by step count with the setting `refiner_switch_by_sample_steps`. With hires fix, the
setting `hires_fix_refiner_pass` chooses the pass ("second pass" by default, as A1111).
The refiner must have the same latents (SD 1.x/2.x, or SDXL with the SDXL refiner).
"""

from __future__ import annotations

import math
from typing import Any

from modules.engine.features import Contribution, FeatureSetup, PassContext
from modules.engine.pass_models import SAME_CHECKPOINT
from modules.engine.passes import PassSpec
from modules.engine.validation import InvalidRequestError

DEFAULT_SWITCH_AT = 0.8  # the UI slider's default; also used when an API request sends no value
HIRES_REFINER_PASSES = ("first pass", "second pass", "both passes")


def wants_refiner(req: Any) -> bool:
    name = getattr(req, "refiner_checkpoint", None)
    return name is not None and str(name).strip() not in SAME_CHECKPOINT


def switch_at(req: Any) -> float:
    """`refiner_switch_at` checked: a number from 0 (refiner from the start) to 1 (never)."""
    value = getattr(req, "refiner_switch_at", None)
    if value is None:
        return DEFAULT_SWITCH_AT
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidRequestError(f"refiner_switch_at must be a number from 0 to 1, got {value!r}") from None
    if not 0.0 <= number <= 1.0 or math.isnan(number):
        raise InvalidRequestError(f"refiner_switch_at must be between 0 and 1 (the fraction of sampling done when "
                                  f"the refiner takes over; 1 = never), got {value!r}")
    return number


def refined_passes(passes: list[PassSpec], setting: str) -> set[int]:
    """Which passes the refiner continues: the first, or with hires fix per `hires_fix_refiner_pass`."""
    hires = [i for i, p in enumerate(passes) if p.name == "hires"]
    if not hires:
        return {0}
    if setting == "first pass":
        return {0}
    if setting == "both passes":
        return {0, *hires}
    return set(hires)


class RefinerFeature:
    name = "Refiner"

    def plan(self, setup: FeatureSetup, passes: list[PassSpec]) -> list[PassSpec]:
        req = setup.req
        if not wants_refiner(req):
            return passes
        at = switch_at(req)
        if setup.checkpoints is None:
            raise InvalidRequestError("refiner_checkpoint: switching checkpoints needs the app's model cache")
        ref = setup.checkpoints.resolve(req.refiner_checkpoint, "refiner_checkpoint")
        if ref is None:
            return passes  # the selected checkpoint itself: nothing to switch to (A1111 does the same)
        setting = str(setup.settings.get("hires_fix_refiner_pass", "second pass"))
        by_steps = bool(setup.settings.get("refiner_switch_by_sample_steps", False))
        info: dict[str, Any] = {"Refiner": ref.short_title, "Refiner switch at": at}
        if any(p.name == "hires" for p in passes) and setting != "second pass":
            info["Hires refiner"] = setting
        if by_steps:
            info["Refiner switch by sampling steps"] = True
        targets = refined_passes(passes, setting)
        planned: list[PassSpec] = []
        for index, spec in enumerate(passes):
            planned.append(spec)
            if index in targets:
                remaining = spec.steps - min(spec.steps, math.ceil(at * spec.steps - 1e-9))
                planned.append(PassSpec(
                    "refiner", spec.width, spec.height, remaining, spec.sampler_name, spec.scheduler, spec.cfg_scale,
                    denoising_strength=spec.denoising_strength, prompt=spec.prompt,
                    negative_prompt=spec.negative_prompt, checkpoint=ref.title, infotext=info,
                    continues_at=at, continue_by_steps=by_steps))
        return planned

    def contribute(self, setup: FeatureSetup, pass_: PassContext) -> Contribution | None:
        return None


def register(runtime: Any) -> None:
    runtime.features.register(RefinerFeature())
