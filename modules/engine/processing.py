"""The job loop shared by txt2img and img2img: prompts, seeds, batches, decode, infotext, save.

Mode-specific code (txt2img.py, img2img.py) supplies a `BatchSampler`: given one batch's
prompts and seeds it returns finished latents. Everything else — styles, seeds, interrupt and
skip between batches, decoding, infotexts, saving and the grid — is the same for both modes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from modules.engine.batch_hooks import ImageFacts, after_batch, default_facts, mode_postprocess
from modules.engine.batch_hooks import plan_batch as plan_hooked_batch
from modules.engine.context import EngineContext
from modules.engine.control import ImageSkipped, JobControl, JobInterrupted
from modules.engine.decode import decode_latents
from modules.engine.features import Contribution, FeatureSetup, PassContext, collect, plan_passes
from modules.engine.infotext_params import generation_infotext
from modules.engine.passes import PassSpec, first_pass
from modules.engine.request import GenerationRequest, GenerationResult
from modules.engine.saving import samples_dir, save_grid, save_sample
from modules.engine.seeds import JobSeeds, job_seeds
from modules.engine.stages import pass_stage
from modules.engine.tiling import tiling_patches
from modules.engine.validation import validate_request
from modules.hooks.payloads import AfterImage, AfterJob, AfterSave, BeforeJob, BeforeSave
from modules.text.conditioning import PromptConditioner
from modules.text.extra_networks import parse_prompt_extra_networks


@dataclass
class BatchPlan:
    """One batch: its index, prompts (tags stripped for conditioning) and seeds."""

    index: int
    prompts: list[str]
    negative_prompts: list[str]
    seeds: list[int]
    subseeds: list[int]
    hr_prompts: list[str] | None = None  # the hires pass's own prompts per picture (tags stripped)
    hr_negative_prompts: list[str] | None = None
    indices: list[int] = field(default_factory=list)  # the job-wide index of each picture
    extra_networks: dict[str, list[Any]] | None = None  # the tags of the batch's first prompt (A1111's rule)


@dataclass
class ActivePass:
    """The pass being sampled: its spec, resolved sampler, contributions and progress offset."""

    index: int
    spec: PassSpec
    sampler: Any  # SamplerSpec
    scheduler: Any  # SchedulerSpec
    contribution: Contribution
    params: dict[str, Any]  # where schedule/sampler infotext entries of this pass go
    step_offset: int = 0  # steps of the earlier passes (progress counts all passes)
    model: Any = None  # the LoadedModel this pass samples with (a refiner's differs from the job's)
    conditioner: Any = None  # PromptConditioner of that model's text encoders


@dataclass
class Handover:
    """What a pass that stopped early leaves for the pass that continues its schedule (a refiner)."""

    sigmas: torch.Tensor  # the remaining sigmas, starting at the switch
    rng: Any  # the batch's ImageRNG (the noise continues)
    full_sigmas: torch.Tensor
    step_offset: int  # the schedule step the continuation starts at (prompt editing)
    image_cond: torch.Tensor | None = None
    blend: Any = None


@dataclass
class JobState:
    """Per-job values computed once and shared by every batch."""

    req: GenerationRequest
    ctx: EngineContext
    control: JobControl
    seeds: JobSeeds
    prompt: str
    negative_prompt: str
    conditioner: PromptConditioner
    sampler: Any  # SamplerSpec
    scheduler: Any  # SchedulerSpec
    extra_params: dict[str, Any] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)
    job_timestamp: str = field(default_factory=lambda: time.strftime("%Y%m%d%H%M%S"))
    passes: list[PassSpec] = field(default_factory=list)
    contributions: list[Contribution] = field(default_factory=list)
    active: ActivePass | None = None  # type: ignore[assignment]
    pass_steps: list[int] = field(default_factory=list)  # steps each pass reports (progress)
    setup: FeatureSetup | None = None
    handover: Handover | None = None  # set by a pass that hands its schedule over (refiner)
    switched: set[int] = field(default_factory=set)  # continuation passes that ran (infotext)
    _built_for: dict[int, int] = field(default_factory=dict)  # pass -> id(model) its contribution is for
    _conditioners: dict[int, Any] = field(default_factory=dict)  # id(model) -> (model, PromptConditioner)
    image_facts: dict[int, ImageFacts] = field(default_factory=dict)  # what each picture was made with
    networks_fresh: bool = True  # the contributions are the job start's, not yet used by a batch

    @property
    def model(self) -> Any:
        """The model of the active pass (the job's selected model before any pass is entered)."""
        return self.active.model if self.active is not None and self.active.model is not None else self.ctx.model

    def facts(self, index: int) -> ImageFacts:
        """The prompt, seeds and own infotext entries picture `index` was generated with."""
        return self.image_facts.get(index) or default_facts(self, index)

    @property
    def total_steps(self) -> int:
        return sum(self.pass_steps)

    def enter_pass(self, index: int) -> ActivePass:
        """Make pass `index` the active one (its sampler, contributions and progress offset)."""
        spec = self.passes[index]
        model = self.pass_model(spec)
        contribution = self.pass_contribution(index, spec, model)
        if index == 0:
            sampler, scheduler, params = self.sampler, self.scheduler, self.extra_params
        else:
            sampler, scheduler = self.ctx.samplers.resolve(spec.sampler_name, spec.scheduler)
            params = {}
        self.active = ActivePass(index, spec, sampler, scheduler, contribution, params,
                                 step_offset=sum(self.pass_steps[:index]), model=model,
                                 conditioner=self.pass_conditioner(model, contribution))
        return self.active

    def pass_model(self, spec: PassSpec) -> Any:
        """The pass's model, made the cache's current one: another checkpoint when the pass names
        one (a refiner, a hires checkpoint), else the job's selected model (switched back to)."""
        ctx, switcher = self.ctx, self.ctx.checkpoints
        if spec.checkpoint is None:
            if switcher is not None and ctx.models is not None and ctx.models.current is not ctx.model:
                switcher.activate(None)
            return ctx.model
        if switcher is None:
            raise ValueError(f"pass '{spec.name}' names checkpoint {spec.checkpoint!r}: switching models "
                             "needs the app's model cache (run the job through the Runtime)")
        return switcher.activate(spec.checkpoint)

    def pass_contribution(self, index: int, spec: PassSpec, model: Any) -> Contribution:
        """Features contribute for the model the pass runs on (LoRA keys, embeddings, ControlNet
        family); a pass on another checkpoint is collected when that model is loaded."""
        built = self.contributions[index]
        if built is not None and self._built_for.get(index, id(model)) == id(model):
            return built
        contribution = collect(self.ctx.features, self.setup, PassContext(index, spec, model))
        if self.req.tiling:
            contribution.patches.insert(0, tiling_patches(model.unet, model.vae))
        self.contributions[index] = contribution
        self._built_for[index] = id(model)
        self.comments += [text for text in contribution.comments if text not in self.comments]
        return contribution

    def pass_conditioner(self, model: Any, contribution: Contribution) -> Any:
        if model is self.ctx.model:
            return self.conditioner
        cached = self._conditioners.get(id(model))
        if cached is None or cached[0] is not model:
            embeddings = contribution.embeddings or self.ctx.embeddings
            cached = (model, PromptConditioner(model, text_options(self.ctx), embeddings=embeddings,
                                               check=self.control.check))
            self._conditioners = {id(model): cached}  # one other model at a time: no stale weights kept
        return cached[1]

    def base_index(self, index: int) -> int:
        """The pass whose schedule pass `index` belongs to (a refiner continues the one before it)."""
        while index > 0 and self.passes[index].continues_at is not None:
            index -= 1
        return index

    def report_pass_steps(self, steps: int) -> None:
        """The active pass runs `steps` steps (known once its schedule is built): fix the total."""
        index = self.active.index
        if self.pass_steps[index] != steps:
            self.pass_steps[index] = steps
            self.control.set_total_steps(self.total_steps)

    def infotext_entries(self) -> dict[str, Any]:
        """The job's extra infotext entries: the first pass's, then each later pass's, once."""
        entries = dict(self.extra_params)
        for index, contribution in enumerate(self.contributions):
            spec = self.passes[index]
            if spec.continues_at is not None and index not in self.switched:
                continue  # a refiner that never took over (switch at 1) writes nothing, as in A1111
            if index > 0:
                entries.update(spec.infotext)
            if contribution is not None:
                entries.update(contribution.infotext)
        return entries


BatchSampler = Callable[[JobState, BatchPlan], torch.Tensor]
PostProcess = Callable[[JobState, BatchPlan, list[Image.Image]], list[Image.Image]]


def apply_styles(req: GenerationRequest, ctx: EngineContext) -> tuple[str, str]:
    if not req.styles:
        return req.prompt, req.negative_prompt
    if ctx.styles is None:
        raise ValueError("styles were requested but no styles file is loaded")
    return ctx.styles.apply_styles(req.prompt, req.negative_prompt, list(req.styles))


def start_job(req: GenerationRequest, ctx: EngineContext, control: JobControl) -> JobState:
    validate_request(req, ctx)
    prompt, negative = apply_styles(req, ctx)
    sampler, scheduler = ctx.samplers.resolve(req.sampler_name, req.scheduler)
    _, networks = parse_prompt_extra_networks(prompt)
    setup = FeatureSetup(req, prompt, negative, networks, ctx.settings, ctx.models, ctx.model, ctx.device,
                         checkpoints=ctx.checkpoints)
    passes = plan_passes(ctx.features, setup, [first_pass(req)])
    # Passes on another checkpoint are collected when that model is loaded (JobState.enter_pass).
    contributions: list[Any] = [collect(ctx.features, setup, PassContext(i, spec, ctx.model))
                                if spec.checkpoint is None else None for i, spec in enumerate(passes)]
    if req.tiling:
        tiling = tiling_patches(ctx.model.unet, ctx.model.vae)
        for c in contributions:
            if c is not None:
                c.patches.insert(0, tiling)
    embeddings = contributions[0].embeddings or ctx.embeddings
    conditioner = PromptConditioner(ctx.model, text_options(ctx), embeddings=embeddings, check=control.check)
    state = JobState(req, ctx, control, job_seeds(req), prompt, negative, conditioner, sampler, scheduler,
                     passes=passes, contributions=contributions, pass_steps=[p.steps for p in passes],
                     setup=setup)
    state.enter_pass(0)
    built = [c for c in contributions if c is not None]
    handled = set().union(*(c.handled_networks for c in built))
    for c in built:
        state.comments += [text for text in c.comments if text not in state.comments]
    unhandled = [name for name in networks if name not in handled]
    if unhandled:
        # No silent drops: say that the tags did nothing.
        state.comments.append(f"Extra-network tags were not applied (not supported yet): {', '.join(unhandled)}")
    return state


def text_options(ctx: EngineContext) -> Any:
    from modules.text.conditioning import TextOptions

    s = ctx.settings
    return TextOptions(clip_skip=int(s["CLIP_stop_at_last_layers"]), emphasis=s["emphasis"],
                       comma_padding_backtrack=int(s["comma_padding_backtrack"]),
                       sdxl_clip_l_skip=bool(s["sdxl_clip_l_skip"]), use_old_scheduling=bool(s["use_old_scheduling"]))


def plan_batch(state: JobState, index: int) -> BatchPlan | None:
    """Batch `index`: the job's prompts and seeds, as the `before_batch` hooks leave them."""
    return plan_hooked_batch(state, index)


def use_batch_networks(state: JobState, plan: BatchPlan) -> None:
    """A1111's rule: a batch uses the extra networks named in its first prompt. When they differ from
    the ones the contributions were collected for, every pass is collected again (and the prompt
    encodings, which a text-encoder LoRA changes, are forgotten); the same tags cost nothing, unless a
    feature asks to be called for every batch (`every_batch()`: A1111-style extra network types)."""
    networks, setup = plan.extra_networks, state.setup
    fresh, state.networks_fresh = state.networks_fresh, False
    if networks is None or setup is None:
        return
    if dict(networks) == dict(setup.extra_networks) and (fresh or not _every_batch(state.ctx.features)):
        return
    state.setup = dataclasses.replace(setup, extra_networks=networks)
    state.contributions = [None] * len(state.passes)
    state._built_for = {}
    state._conditioners = {}
    embeddings = state.conditioner.embeddings
    state.conditioner = PromptConditioner(state.ctx.model, text_options(state.ctx), embeddings=embeddings,
                                          check=state.control.check)


def _every_batch(features: tuple[Any, ...]) -> bool:
    return any(callable(getattr(f, "every_batch", None)) and f.every_batch() for f in features)


def run_job(req: GenerationRequest, ctx: EngineContext, control: JobControl, sample: BatchSampler,
            postprocess: PostProcess | None = None) -> GenerationResult:
    """Run every batch; Interrupt keeps what is finished, Skip drops only the current batch."""
    with job_scope(ctx):
        return _run_job(req, ctx, control, sample, postprocess)


def job_scope(ctx: EngineContext) -> Any:
    """The selected checkpoint stays in RAM while passes switch models, and is current at the end."""
    if ctx.checkpoints is None:
        return contextlib.nullcontext()
    return ctx.checkpoints.job_scope()


def _run_job(req: GenerationRequest, ctx: EngineContext, control: JobControl, sample: BatchSampler,
             postprocess: PostProcess | None) -> GenerationResult:
    state = start_job(req, ctx, control)
    call_hooks(ctx, "before_job", BeforeJob(req))
    images: list[Image.Image] = []
    infotexts: list[str] = []
    saved: list[str] = []
    indices: list[int] = []
    interrupted = False
    for it in range(req.n_iter):
        try:
            control.check()
            control.set_job(it, req.n_iter, state.total_steps)
            plan = plan_batch(state, it)
            if plan is None:  # a script emptied this batch
                continue
            use_batch_networks(state, plan)
            with torch.inference_mode():
                state.enter_pass(0)
                latents = sample(state, plan)
                latents = run_later_passes(state, plan, latents)
                with pass_stage(state, "vae"):  # the last pass's model decodes (A1111: the refiner's VAE)
                    decoded_batch = decode_latents(state.model, latents, ctx.settings)
                decoded, batch_indices = after_batch(state, plan, decoded_batch)
            decoded = mode_postprocess(state, plan, decoded, batch_indices, postprocess)
        except ImageSkipped:
            continue
        except JobInterrupted:
            interrupted = True
            break
        for index, image in zip(batch_indices, decoded, strict=True):
            text = generation_infotext(state, index)
            after = AfterImage(req, image, text, index, save_intermediate=sample_saver(state, index, text))
            call_hooks(ctx, "after_image", after)
            image = after.image
            if after.infotext_entries:  # written again: the saved and returned picture carries them
                state.facts(index).infotext.update(after.infotext_entries)
                text = generation_infotext(state, index)
            image.info["parameters"] = text
            images.append(image)
            infotexts.append(text)
            indices.append(index)
            if req.save_images and ctx.settings["samples_save"]:
                call_hooks(ctx, "before_save", BeforeSave(image, text, str(samples_dir(state))))
                saved.append(save_sample(state, image, index, text))
                call_hooks(ctx, "after_save", AfterSave(image, text, saved[-1]))
    result = finish_job(state, images, infotexts, indices, saved, interrupted)
    call_hooks(ctx, "after_job", AfterJob(req, result))
    if ctx.hooks is not None:
        result.comments += [f.message() for f in ctx.hooks.take_failures()]
    return result


def sample_saver(state: JobState, index: int, text: str) -> Callable[[Image.Image, str], str] | None:
    """Saves an intermediate picture of image `index` (suffix, e.g. "-before-face-restoration") the
    way the job saves its samples; None when the job saves no samples."""
    if not (state.req.save_images and state.ctx.settings["samples_save"]):
        return None
    return lambda picture, suffix: save_sample(state, picture, index, text, suffix=suffix)


def call_hooks(ctx: EngineContext, point: str, payload: Any) -> None:
    """Call an extension hook point, isolated by the host (failures end up in the comments)."""
    if ctx.hooks is not None:
        ctx.hooks.call(point, payload)


def run_later_passes(state: JobState, plan: BatchPlan, latents: torch.Tensor) -> torch.Tensor:
    """Every pass after the first, each starting from the previous one's latents."""
    if len(state.passes) < 2:
        return latents
    from modules.engine.later_pass import run_later_pass

    for index in range(1, len(state.passes)):
        latents = run_later_pass(state, plan, index, latents)
    return latents


def finish_job(state: JobState, images: list[Image.Image], infotexts: list[str], indices: list[int],
               saved: list[str], interrupted: bool) -> GenerationResult:
    """Add the grid (first, as A1111 shows it) and assemble the result and its info dict."""
    req, ctx = state.req, state.ctx
    first = 0
    if len(images) > 1 and req.save_grid:
        grid, grid_path = save_grid(state, images, infotexts[0] if infotexts else "",
                                    save=bool(ctx.settings["grid_save"]))
        if ctx.settings["return_grid"]:
            images, infotexts, first = [grid, *images], [grid.info.get("parameters", ""), *infotexts], 1
        if grid_path:
            saved.append(grid_path)
    facts = [state.facts(i) for i in indices]
    result = GenerationResult(
        images=images, infotexts=infotexts,
        seeds=[f.seed for f in facts], subseeds=[f.subseed for f in facts],
        prompts=[f.prompt for f in facts], negative_prompts=[f.negative_prompt for f in facts],
        index_of_first_image=first, saved_paths=saved, interrupted=interrupted, comments=list(state.comments))
    result.info = result_info(state, result)
    return result


def result_info(state: JobState, result: GenerationResult) -> dict[str, Any]:
    """The dict behind A1111's `info` JSON string."""
    req, ctx, seeds = state.req, state.ctx, state.seeds
    every = [state.facts(i) for i in range(req.batch_size * req.n_iter)]
    # A1111: p.restore_faces is the request's value, or the "face_restoration" setting when unset
    restore = bool(ctx.settings.get("face_restoration", False)) if req.restore_faces is None else req.restore_faces
    return {
        "prompt": state.prompt, "all_prompts": [f.prompt for f in every],
        "negative_prompt": state.negative_prompt, "all_negative_prompts": [f.negative_prompt for f in every],
        "seed": every[0].seed if every else seeds.seed, "all_seeds": [f.seed for f in every],
        "subseed": every[0].subseed if every else seeds.subseed,
        "all_subseeds": [f.subseed for f in every], "subseed_strength": req.subseed_strength,
        "width": req.width, "height": req.height, "sampler_name": state.sampler.name,
        "cfg_scale": req.cfg_scale, "steps": req.steps, "batch_size": req.batch_size,
        "restore_faces": restore,
        "face_restoration_model": ctx.settings.get("face_restoration_model") if restore else None,
        "sd_model_name": ctx.model_name, "sd_model_hash": ctx.model_hash,
        "sd_vae_name": ctx.vae_name, "sd_vae_hash": ctx.vae_hash,
        "seed_resize_from_w": req.seed_resize_from_w if req.seed_resize_from_w > 0 else -1,
        "seed_resize_from_h": req.seed_resize_from_h if req.seed_resize_from_h > 0 else -1,
        "denoising_strength": req.denoising_strength if req.mode == "img2img" else None,
        "extra_generation_params": {**state.infotext_entries(), **(every[0].infotext if every else {})},
        "index_of_first_image": result.index_of_first_image,
        "infotexts": result.infotexts, "styles": list(req.styles), "job_timestamp": state.job_timestamp,
        "clip_skip": int(ctx.settings["CLIP_stop_at_last_layers"]),
        "is_using_inpainting_conditioning": ctx.model.family.is_inpainting,
        "version": ctx.version,
        "comments": list(state.comments),  # not in A1111's info: warnings such as a LoRA that was not found
    }
