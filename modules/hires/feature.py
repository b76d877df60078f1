"""The hires-fix job feature: with `enable_hr` it adds a second pass at the larger size.

The pass starts from the first pass's result (latent modes stretch the latents; any other
upscaler works on the decoded picture), is noised to `denoising_strength` and sampled over the
tail of `hr_second_pass_steps` steps with its own sampler, schedule type and prompts when given.
Infotext keys are A1111's; "Size" stays the first pass's size, as in A1111.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from modules.engine.features import Contribution, FeatureSetup, PassContext
from modules.engine.passes import PassOutput, PassSpec
from modules.engine.validation import InvalidRequestError
from modules.hires.params import SAME_CHECKPOINT, SAME_SAMPLER, SAME_SCHEDULER, hires_steps, hires_target
from modules.hires.sources import image_source, latent_source
from modules.upscalers.names import latent_mode


def hires_infotext(req: Any, sampler: str, scheduler: str, prompt: str, negative: str,
                   checkpoint: str | None = None) -> dict[str, Any]:
    """A1111's hires entries, written only when they say something."""
    info: dict[str, Any] = {"Denoising strength": req.denoising_strength}
    if (req.hr_prompt or prompt) != prompt:
        info["Hires prompt"] = req.hr_prompt
    if (req.hr_negative_prompt or negative) != negative:
        info["Hires negative prompt"] = req.hr_negative_prompt
    if (req.hr_scheduler or "") not in SAME_SCHEDULER and req.hr_scheduler != scheduler:
        info["Hires schedule type"] = req.hr_scheduler
    if int(req.hr_resize_x or 0) == 0 and int(req.hr_resize_y or 0) == 0:
        info["Hires upscale"] = req.hr_scale
    else:
        info["Hires resize"] = f"{int(req.hr_resize_x or 0)}x{int(req.hr_resize_y or 0)}"
    if int(req.hr_second_pass_steps):
        info["Hires steps"] = int(req.hr_second_pass_steps)
    if req.hr_upscaler:
        info["Hires upscaler"] = req.hr_upscaler
    if checkpoint:
        info["Hires checkpoint"] = checkpoint  # only when it differs from the job's (A1111's short title)
    if (req.hr_sampler_name or "") not in SAME_SAMPLER and req.hr_sampler_name != sampler:
        info["Hires sampler"] = req.hr_sampler_name
    return info


class HiresFeature:
    name = "Hires fix"

    def __init__(self, upscalers: Any = None) -> None:
        self.upscalers = upscalers

    def plan(self, setup: FeatureSetup, passes: list[PassSpec]) -> list[PassSpec]:
        req = setup.req
        if not getattr(req, "enable_hr", False) or req.mode != "txt2img":
            return passes
        from modules.hires.params import validate_hires

        validate_hires(req, self.upscalers)
        checkpoint = self._checkpoint(setup)
        first = passes[0]
        target = hires_target(req)
        sampler = first.sampler_name if (req.hr_sampler_name or "") in SAME_SAMPLER else req.hr_sampler_name
        scheduler = first.scheduler if (req.hr_scheduler or "") in SAME_SCHEDULER else req.hr_scheduler
        spec = PassSpec(
            "hires", target.width, target.height, hires_steps(req), sampler, scheduler, first.cfg_scale,
            denoising_strength=float(req.denoising_strength),
            prompt=req.hr_prompt or None, negative_prompt=req.hr_negative_prompt or None,
            source=self._source(setup, target), checkpoint=checkpoint.title if checkpoint else None,
            infotext=hires_infotext(req, first.sampler_name, first.scheduler, setup.prompt, setup.negative_prompt,
                                    checkpoint.short_title if checkpoint else None))
        return [*passes, spec]

    @staticmethod
    def _checkpoint(setup: FeatureSetup) -> Any:
        """The hires pass's own checkpoint (`hr_checkpoint_name`), None for the job's one."""
        name = setup.req.hr_checkpoint_name
        if (name or "").strip() in SAME_CHECKPOINT:
            return None
        if setup.checkpoints is None:
            raise InvalidRequestError("hr_checkpoint_name: switching checkpoints needs the app's model cache")
        return setup.checkpoints.resolve(name, "hr_checkpoint_name")

    def _source(self, setup: FeatureSetup, target: Any) -> Any:
        req, f = setup.req, setup.model.vae_downscale
        save_first = self._first_pass_saver(setup)
        mode = latent_mode(req.hr_upscaler)
        if mode is not None:
            return latent_source(mode[0], mode[1], target, f, save_first)
        catalog, settings, name = self.upscalers, setup.settings, req.hr_upscaler

        def upscale(picture: Any, width: int, height: int) -> Any:
            return catalog.upscale(picture, name, size=(width, height), settings=settings)

        return image_source(upscale, target, save_first)

    def _first_pass_saver(self, setup: FeatureSetup) -> Any:
        """A1111's "Save a copy of image before applying highres fix": saved as a sample with the
        `-before-highres-fix` suffix and the image's infotext (Size is the first pass's)."""
        settings: Mapping[str, Any] = setup.settings
        if not (setup.req.save_images and settings.get("samples_save", True)
                and settings.get("save_images_before_highres_fix", False)):
            return None

        def save(prev: PassOutput, images: torch.Tensor) -> None:
            if prev.save_intermediate is not None:
                prev.save_intermediate(images, "-before-highres-fix")

        return save

    def contribute(self, setup: FeatureSetup, pass_: PassContext) -> Contribution | None:
        return None


def register(runtime: Any) -> None:
    runtime.features.register(HiresFeature(runtime.upscalers))
