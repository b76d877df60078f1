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
from modules.noise import fix_seed


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
        # per-picture lists and callables are resolved for each picture (extensions/script_lifecycle.py)
        return Contribution(infotext={k: v for k, v in self.params.items()
                                      if not callable(v) and not isinstance(v, list)})


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
        seeds = job_seeds(req)
        self.seed, self.subseed = seeds.seed, seeds.subseed
        self.setup_prompts()
        self.setup_seeds()
        self.prompts: list[str] = []
        self.negative_prompts: list[str] = []
        self.seeds: list[int] = []
        self.subseeds: list[int] = []
        self.hr_prompts: list[str] | None = None
        self.hr_negative_prompts: list[str] | None = None
        self.iteration = 0
        self.batch_index = 0

    def setup_prompts(self) -> None:
        """`all_prompts` & co. from `prompt` (a string, or a list of one per picture as prompt-matrix
        scripts set it), styles applied; A1111 does this at the start of every process_images."""
        n = int(self.batch_size) * int(self.n_iter)
        prompts = list(self.prompt) if isinstance(self.prompt, list) else None
        negatives = list(self.negative_prompt) if isinstance(self.negative_prompt, list) else None
        count = len(prompts) if prompts is not None else len(negatives) if negatives is not None else n
        prompts = prompts if prompts is not None else [self.prompt] * count
        negatives = negatives if negatives is not None else [self.negative_prompt] * count
        self.all_prompts, self.all_negative_prompts = self._styled_lists(prompts, negatives)
        hr, hr_neg = getattr(self, "hr_prompt", "") or "", getattr(self, "hr_negative_prompt", "") or ""
        hr_list = hr if isinstance(hr, list) else [hr or p for p in prompts]
        hr_neg_list = hr_neg if isinstance(hr_neg, list) else [hr_neg or q for q in negatives]
        self.all_hr_prompts, self.all_hr_negative_prompts = self._styled_lists(hr_list, hr_neg_list)
        # which hires prompts only repeat the prompt: they follow a script's changes to all_prompts
        self._hr_follows = (list(self.all_hr_prompts) if not hr else None,
                            list(self.all_hr_negative_prompts) if not hr_neg else None)
        if not getattr(self, "enable_hr", False):  # A1111: None without a hires pass (scripts test for it)
            self.all_hr_prompts = self.all_hr_negative_prompts = None  # type: ignore[assignment]
        self._setup_prompts = (list(self.all_prompts), list(self.all_negative_prompts))
        self._built_from = (self.prompt, self.negative_prompt)

    def prompts_changed_since_setup(self) -> tuple[list[str], list[str]] | None:
        """`all_prompts`/`all_negative_prompts` a script edited directly while `prompt` stayed the same
        (e.g. in run() before process_images); A1111 rebuilds them and loses such edits, this app keeps them."""
        lists = (list(self.all_prompts), list(self.all_negative_prompts))
        if lists == self._setup_prompts or (self.prompt, self.negative_prompt) != self._built_from:
            return None
        return lists

    def _styled_lists(self, prompts: list[str], negatives: list[str]) -> tuple[list[str], list[str]]:
        styles = getattr(self._link.ctx, "styles", None) if self._link is not None else None
        if not self.styles or styles is None:
            return [str(p) for p in prompts], [str(q) for q in negatives]
        pairs = [styles.apply_styles(str(p), str(q), self.styles) for p, q in zip(prompts, negatives, strict=False)]
        return [a for a, _ in pairs], [b for _, b in pairs]

    def setup_seeds(self) -> None:
        """`all_seeds`/`all_subseeds`: seed+i per picture (all the same seed with a variation
        strength), or the lists a script put into `seed`/`subseed`."""
        count = len(self.all_prompts)
        if isinstance(self.seed, list):
            self.all_seeds = [int(s) for s in self.seed]
        else:
            seed = fix_seed(int(self.seed))
            step = 0 if float(self.subseed_strength or 0) > 0 else 1
            self.all_seeds = [seed + i * step for i in range(count)]
        if isinstance(self.subseed, list):
            self.all_subseeds = [int(s) for s in self.subseed]
        else:
            subseed = fix_seed(int(self.subseed))
            self.all_subseeds = [subseed + i for i in range(count)]

    def batch_hr_prompts(self, span: slice) -> tuple[list[str], list[str]]:
        """This batch's hires prompts; one that only repeated the prompt follows the prompt a
        script gave that picture (A1111 would keep the prompt from before the script)."""
        if self.all_hr_prompts is None or self.all_hr_negative_prompts is None:  # no hires pass
            return list(self.all_prompts[span]), list(self.all_negative_prompts[span])
        hr, hr_neg = list(self.all_hr_prompts[span]), list(self.all_hr_negative_prompts[span])
        follows, follows_neg = self._hr_follows
        for j, i in enumerate(range(len(self.all_prompts))[span]):
            if follows is not None and i < len(follows) and j < len(hr) and hr[j] == follows[i]:
                hr[j] = self.all_prompts[i]
            if follows_neg is not None and i < len(follows_neg) and j < len(hr_neg) and hr_neg[j] == follows_neg[i]:
                hr_neg[j] = self.all_negative_prompts[i]
        return hr, hr_neg

    @property
    def sd_model(self) -> Any:
        if self._link is None:
            return None
        from modules.extensions.facades.sd_model import SdModel

        ctx = self._link.ctx
        return SdModel(ctx.model, ctx.model_name, ctx.model_hash)

    @property
    def main_prompt(self) -> str:
        return self.all_prompts[0] if self.all_prompts else str(self.prompt)

    @property
    def main_negative_prompt(self) -> str:
        return self.all_negative_prompts[0] if self.all_negative_prompts else str(self.negative_prompt)

    def to_request(self) -> GenerationRequest:
        """The request this `p` describes now (each picture's own prompt and seed reach the engine
        per batch, through the job's hooks)."""
        changes: dict[str, Any] = {name: getattr(self, name) for name in _COPIED if hasattr(self._req, name)}
        changes.update(styles=tuple(self.styles), save_images=not self.do_not_save_samples,
                       save_grid=not self.do_not_save_grid)
        if getattr(self, "_runs_extension_script", False):  # its run() is this job; a built-in one stays
            changes.update(script_name=None, script_args=())
        if (self.all_prompts, self.all_negative_prompts) != self._setup_prompts or isinstance(self.prompt, list) \
                or isinstance(self.negative_prompt, list):
            changes.update(prompt=self.main_prompt, negative_prompt=self.main_negative_prompt, styles=())
        for name in ("hr_prompt", "hr_negative_prompt"):
            if isinstance(changes.get(name), list):
                changes[name] = changes[name][0] if changes[name] else ""
        changes["seed"] = self.all_seeds[0] if self.all_seeds else fix_seed(-1)
        changes["subseed"] = self.all_subseeds[0] if self.all_subseeds else fix_seed(-1)
        return dataclasses.replace(self._req, **changes)


class StableDiffusionProcessingTxt2Img(StableDiffusionProcessing):
    """`p` of a txt2img job (scripts tell the modes apart with isinstance)."""


class StableDiffusionProcessingImg2Img(StableDiffusionProcessing):
    """`p` of an img2img job."""


def processing_for(req: GenerationRequest, link: JobLink) -> StableDiffusionProcessing:
    cls = StableDiffusionProcessingImg2Img if req.mode == "img2img" else StableDiffusionProcessingTxt2Img
    return cls(req, link)


class Processed:
    """A1111's result object: over our GenerationResult when the app made it, or built by a
    script with A1111's signature `Processed(p, images, seed, info, ...)`."""

    def __init__(self, p: StableDiffusionProcessing, images_list: Any, seed: int = -1, info: str = "",
                 subseed: int | None = None, all_prompts: list[str] | None = None,
                 all_negative_prompts: list[str] | None = None, all_seeds: list[int] | None = None,
                 all_subseeds: list[int] | None = None, index_of_first_image: int = 0,
                 infotexts: list[str] | None = None, comments: str = "") -> None:
        if isinstance(images_list, GenerationResult):
            result = images_list
        else:
            images = list(images_list)
            texts = list(infotexts) if infotexts is not None else [info] * len(images)
            result = GenerationResult(
                images=images, infotexts=texts, seeds=list(all_seeds or [seed]), subseeds=list(all_subseeds or
                [subseed if subseed is not None else -1]), prompts=list(all_prompts or [p.main_prompt]),
                negative_prompts=list(all_negative_prompts or [p.main_negative_prompt]),
                index_of_first_image=index_of_first_image, comments=[c for c in comments.split("\n") if c])
            result.info = {"prompt": p.main_prompt, "all_prompts": result.prompts, "seed": seed,
                           "all_seeds": result.seeds, "infotexts": result.infotexts,
                           "negative_prompt": p.main_negative_prompt, "index_of_first_image": index_of_first_image,
                           "extra_generation_params": p.extra_generation_params}
        self.result = result
        self.images = result.images
        self.infotexts = result.infotexts
        self.prompt, self.negative_prompt = p.main_prompt, p.main_negative_prompt
        self.all_prompts, self.all_negative_prompts = result.prompts, result.negative_prompts
        self.seed = result.seeds[0] if result.seeds else p.seed
        self.subseed = result.subseeds[0] if result.subseeds else p.subseed
        self.all_seeds, self.all_subseeds = result.seeds, result.subseeds
        self.index_of_first_image = result.index_of_first_image
        self.extra_generation_params = p.extra_generation_params
        self.comments = "\n".join(result.comments)
        self.info = result.infotexts[result.index_of_first_image] if len(result.infotexts) > \
            result.index_of_first_image else info
        self.width, self.height, self.steps, self.cfg_scale = p.width, p.height, p.steps, p.cfg_scale
        self.batch_size, self.sampler_name = p.batch_size, p.sampler_name

    def js(self) -> str:
        import json

        return json.dumps(self.result.info, default=str)


def result_of(processed: Any) -> GenerationResult:
    """Our result from what a script's run() returned (changes to its lists are kept)."""
    if not isinstance(processed, Processed):
        raise TypeError(f"a script's run() returned {type(processed).__name__}; it must return a Processed "
                        "(from process_images(p)) or None")
    result = processed.result
    result.images, result.infotexts = processed.images, processed.infotexts
    result.index_of_first_image = processed.index_of_first_image
    result.info.update(index_of_first_image=processed.index_of_first_image, infotexts=processed.infotexts)
    return result


def process_images(p: StableDiffusionProcessing) -> Processed:
    """Run the job `p` describes, in A1111's order: `before_process`, prompts and seeds from `p`,
    `process`, the batches (per-batch and per-picture script methods on the job's hooks),
    `postprocess`. Scripts call this from `run`, also more than once."""
    link = p._link
    if link is None:
        raise RuntimeError("process_images: this p was not made by the app for a job; scripts receive p in "
                           "run()/process() and pass that one")
    from modules.extensions.script_lifecycle import job_hooks
    from modules.hooks.host import LayeredHooks
    from modules.networks.extension_networks import bind_to_job

    link.host._each(p, "before_process")
    edited = p.prompts_changed_since_setup()
    p.setup_prompts()
    if edited is not None and len(edited[0]) == len(p.all_prompts):
        p.all_prompts, p.all_negative_prompts = edited
    p.setup_seeds()
    link.host._each(p, "process")
    req = p.to_request()
    hooks = LayeredHooks(link.ctx.hooks, job_hooks(p, req, link.host))
    features, networks = bind_to_job(link.ctx.features, p)  # A1111 extra networks get this p
    ctx = dataclasses.replace(link.ctx, features=(*features, ScriptInfotext(p.extra_generation_params)),
                              hooks=hooks)
    try:
        result = link.inner(req, ctx, link.control)
    finally:
        p._comments += [m for network in networks for m in network.finish() if m not in p._comments]
    processed = Processed(p, result)
    link.host._each(p, "postprocess", processed)
    return processed


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
