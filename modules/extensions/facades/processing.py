"""`modules.processing`: the `p` object scripts receive, `process_images(p)` and `Processed`.

`p` is built from our GenerationRequest at the start of a job (prompts with styles applied,
seeds resolved) and turned back into one by `process_images`: prompt changes a script made in
`process()` and its `extra_generation_params` reach the engine (the latter as a job feature's
infotext, the seam every feature uses).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from modules.engine.features import Contribution
from modules.engine.request import GenerationRequest, GenerationResult
from modules.engine.seeds import job_seeds
from modules.extensions.facades.importer import FacadeModule, missing


@dataclass
class JobLink:
    """How `process_images` reaches the engine for the job this `p` belongs to."""

    ctx: Any  # EngineContext
    control: Any
    inner: Any  # (req, ctx, control) -> GenerationResult: the built-in script dispatch
    host: Any


class ScriptInfotext:
    """A per-job feature that writes the scripts' `extra_generation_params` into the infotext."""

    name = "Extension scripts"

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params

    def contribute(self, setup: Any, pass_: Any) -> Contribution | None:
        if pass_.index != 0 or not self.params:
            return None
        return Contribution(infotext={k: v for k, v in self.params.items() if not callable(v)})


_COPIED = ("prompt", "negative_prompt", "seed", "subseed", "subseed_strength", "sampler_name", "scheduler",
           "steps", "cfg_scale", "width", "height", "batch_size", "n_iter", "denoising_strength",
           "override_settings", "outpath_samples", "outpath_grids", "tiling", "resize_mode", "mask_blur_x",
           "mask_blur_y", "inpainting_fill", "inpaint_full_res", "inpaint_full_res_padding",
           "inpainting_mask_invert", "seed_resize_from_w", "seed_resize_from_h", "eta", "enable_hr", "hr_scale",
           "hr_upscaler", "hr_second_pass_steps", "hr_resize_x", "hr_resize_y", "hr_sampler_name", "hr_scheduler",
           "hr_prompt", "hr_negative_prompt")


class StableDiffusionProcessing:
    """A1111's `p`: the job's parameters, editable by scripts before the job runs."""

    def __init__(self, req: GenerationRequest, link: JobLink | None = None) -> None:
        self._req, self._link = req, link
        for name in _COPIED:
            setattr(self, name, getattr(req, name, None))
        self.styles = list(req.styles)
        self.init_images = list(req.init_images)
        self.image_mask = req.mask
        self.is_img2img = req.mode == "img2img"
        self.script_args = req.script_args
        self.do_not_save_samples = not req.save_images
        self.do_not_save_grid = not req.save_grid
        self.extra_generation_params: dict[str, Any] = {}
        self.comments: dict[str, int] = {}
        self.setup_prompts()
        seeds = job_seeds(req)
        self.seed, self.subseed = seeds.seed, seeds.subseed
        self.all_seeds, self.all_subseeds = list(seeds.all_seeds), list(seeds.all_subseeds)
        self.iteration = 0
        self.batch_index = 0

    def setup_prompts(self) -> None:
        styles = getattr(self._link.ctx, "styles", None) if self._link is not None else None
        prompt, negative = self.prompt, self.negative_prompt
        if self.styles and styles is not None:
            prompt, negative = styles.apply_styles(prompt, negative, self.styles)
        n = self.batch_size * self.n_iter
        self.all_prompts, self.all_negative_prompts = [prompt] * n, [negative] * n
        hr_prompt, hr_negative = getattr(self, "hr_prompt", "") or prompt, getattr(self, "hr_negative_prompt", "") or negative
        self.all_hr_prompts, self.all_hr_negative_prompts = [hr_prompt] * n, [hr_negative] * n
        self._styled = (prompt, negative)

    @property
    def sd_model(self) -> Any:
        return self._link.ctx.model if self._link is not None else None

    @property
    def main_prompt(self) -> str:
        return self.all_prompts[0] if self.all_prompts else self.prompt

    def to_request(self) -> tuple[GenerationRequest, list[str]]:
        """The request this `p` describes now, and notes for the user about what it cannot carry."""
        notes = []
        changes: dict[str, Any] = {name: getattr(self, name) for name in _COPIED if hasattr(self._req, name)}
        changes.update(styles=tuple(self.styles), save_images=not self.do_not_save_samples,
                       save_grid=not self.do_not_save_grid)
        if getattr(self, "_runs_extension_script", False):  # its run() is this job; a built-in one stays
            changes.update(script_name=None, script_args=())
        prompts, negatives = list(self.all_prompts), list(self.all_negative_prompts)
        if prompts and (prompts[0], negatives[0] if negatives else "") != self._styled:
            changes.update(prompt=prompts[0], negative_prompt=negatives[0] if negatives else "", styles=())
        if len(set(prompts)) > 1 or len(set(negatives)) > 1:
            notes.append("A script gave the pictures of this job different prompts; this app runs one prompt "
                         "per job, so every picture used the first one.")
        if self.all_seeds and self.all_seeds[0] != self.seed:
            changes["seed"] = self.all_seeds[0]
        return dataclasses.replace(self._req, **changes), notes


class StableDiffusionProcessingTxt2Img(StableDiffusionProcessing):
    """`p` of a txt2img job (scripts tell the modes apart with isinstance)."""


class StableDiffusionProcessingImg2Img(StableDiffusionProcessing):
    """`p` of an img2img job."""


def processing_for(req: GenerationRequest, link: JobLink) -> StableDiffusionProcessing:
    cls = StableDiffusionProcessingImg2Img if req.mode == "img2img" else StableDiffusionProcessingTxt2Img
    return cls(req, link)


class Processed:
    """A1111's result object over our GenerationResult."""

    def __init__(self, p: StableDiffusionProcessing, result: GenerationResult) -> None:
        self.result = result
        self.images = result.images
        self.infotexts = result.infotexts
        self.prompt, self.negative_prompt = p.main_prompt, p.all_negative_prompts[0] if p.all_negative_prompts else ""
        self.all_prompts, self.all_negative_prompts = result.prompts, result.negative_prompts
        self.seed = result.seeds[0] if result.seeds else p.seed
        self.all_seeds, self.all_subseeds = result.seeds, result.subseeds
        self.index_of_first_image = result.index_of_first_image
        self.extra_generation_params = p.extra_generation_params
        self.comments = "\n".join(result.comments)
        self.info = result.infotexts[result.index_of_first_image] if result.infotexts else ""

    def js(self) -> str:
        import json

        return json.dumps(self.result.info)


def process_images(p: StableDiffusionProcessing) -> Processed:
    """Run the job `p` describes (inside the current job: scripts call this from `run`)."""
    link = p._link
    if link is None:
        raise RuntimeError("process_images: this p was not made by the app for a job; scripts receive p in "
                           "run()/process() and pass that one")
    req, notes = p.to_request()
    ctx = dataclasses.replace(link.ctx, features=(*link.ctx.features, ScriptInfotext(p.extra_generation_params)))
    result = link.inner(req, ctx, link.control)
    result.comments += notes
    link.host.postprocess_images(p, result)
    return Processed(p, result)


def build() -> FacadeModule:
    module = FacadeModule("modules.processing")
    for name, value in (("StableDiffusionProcessing", StableDiffusionProcessing),
                        ("StableDiffusionProcessingTxt2Img", StableDiffusionProcessingTxt2Img),
                        ("StableDiffusionProcessingImg2Img", StableDiffusionProcessingImg2Img),
                        ("Processed", Processed), ("process_images", process_images)):
        setattr(module, name, value)
    module.fix_seed = lambda p: None  # seeds are already resolved when a script sees p
    module.create_infotext = lambda *a, **k: (_ for _ in ()).throw(missing("modules.processing", "create_infotext"))
    return module
