"""The job loop shared by txt2img and img2img: prompts, seeds, batches, decode, infotext, save.

Mode-specific code (txt2img.py, img2img.py) supplies a `BatchSampler`: given one batch's
prompts and seeds it returns finished latents. Everything else — styles, seeds, interrupt and
skip between batches, decoding, infotexts, saving and the grid — is the same for both modes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from modules.engine.context import EngineContext
from modules.engine.decode import decode_latents, to_pil
from modules.engine.infotext_params import generation_infotext
from modules.engine.request import GenerationRequest, GenerationResult
from modules.engine.saving import save_grid, save_sample
from modules.engine.seeds import JobSeeds, job_seeds
from modules.engine.tiling import circular_padding
from modules.engine.validation import validate_request
from modules.jobs.progress import ImageSkipped, JobControl, JobInterrupted
from modules.networks.job import NetworkJob, activate_networks
from modules.text.conditioning import PromptConditioner
from modules.text.extra_networks import parse_prompt_extra_networks

log = logging.getLogger(__name__)


@dataclass
class BatchPlan:
    """One batch: its index, prompts (tags stripped for conditioning) and seeds."""

    index: int
    prompts: list[str]
    negative_prompts: list[str]
    seeds: list[int]
    subseeds: list[int]


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
    networks: NetworkJob | None = None  # the job's LoRA/hypernetwork patches (applied around sampling)
    job_timestamp: str = field(default_factory=lambda: time.strftime("%Y%m%d%H%M%S"))


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
    conditioner = PromptConditioner(ctx.model, text_options(ctx), embeddings=ctx.embeddings)
    state = JobState(req, ctx, control, job_seeds(req), prompt, negative, conditioner, sampler, scheduler)
    _, networks = parse_prompt_extra_networks(prompt)
    state.networks = activate_networks(ctx.extra_networks, ctx.model, ctx.settings, networks)
    state.extra_params.update(state.networks.extra_params)
    state.comments.extend(state.networks.warnings)
    for warning in state.networks.warnings:
        log.warning("%s", warning)
    return state


def text_options(ctx: EngineContext) -> Any:
    from modules.text.conditioning import TextOptions

    s = ctx.settings
    return TextOptions(clip_skip=int(s["CLIP_stop_at_last_layers"]), emphasis=s["emphasis"],
                       comma_padding_backtrack=int(s["comma_padding_backtrack"]),
                       sdxl_clip_l_skip=bool(s["sdxl_clip_l_skip"]), use_old_scheduling=bool(s["use_old_scheduling"]))


def plan_batch(state: JobState, index: int) -> BatchPlan:
    n = state.req.batch_size
    lo, hi = index * n, (index + 1) * n
    prompt, _ = parse_prompt_extra_networks(state.prompt)
    return BatchPlan(index, [prompt] * n, [state.negative_prompt] * n,
                     state.seeds.all_seeds[lo:hi], state.seeds.all_subseeds[lo:hi])


def run_job(req: GenerationRequest, ctx: EngineContext, control: JobControl, sample: BatchSampler,
            postprocess: PostProcess | None = None) -> GenerationResult:
    """Run every batch; Interrupt keeps what is finished, Skip drops only the current batch."""
    state = start_job(req, ctx, control)
    images: list[Image.Image] = []
    infotexts: list[str] = []
    saved: list[str] = []
    indices: list[int] = []
    with state.networks.scope() if state.networks else nullcontext():
        interrupted = _run_batches(state, sample, postprocess, images, infotexts, saved, indices)
    return finish_job(state, images, infotexts, indices, saved, interrupted)


def _run_batches(state: JobState, sample: BatchSampler, postprocess: PostProcess | None, images: list[Image.Image],
                 infotexts: list[str], saved: list[str], indices: list[int]) -> bool:
    """The batch loop of run_job; returns whether the job was interrupted."""
    req, ctx, control, model = state.req, state.ctx, state.control, state.ctx.model
    interrupted = False
    for it in range(req.n_iter):
        try:
            control.check()
            control.set_job(it, req.n_iter, req.steps)
            plan = plan_batch(state, it)
            with torch.inference_mode(), circular_padding(model.unet, model.vae, enabled=req.tiling):
                latents = sample(state, plan)
                decoded = to_pil(decode_latents(model, latents))
            if postprocess is not None:
                decoded = postprocess(state, plan, decoded)
        except ImageSkipped:
            continue
        except JobInterrupted:
            interrupted = True
            break
        for j, image in enumerate(decoded):
            index = it * req.batch_size + j
            text = generation_infotext(state, index)
            image.info["parameters"] = text
            images.append(image)
            infotexts.append(text)
            indices.append(index)
            if req.save_images and ctx.settings["samples_save"]:
                saved.append(save_sample(state, image, index, text))
    return interrupted


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
    seeds = state.seeds
    result = GenerationResult(
        images=images, infotexts=infotexts,
        seeds=[seeds.all_seeds[i] for i in indices], subseeds=[seeds.all_subseeds[i] for i in indices],
        prompts=[state.prompt] * len(indices), negative_prompts=[state.negative_prompt] * len(indices),
        index_of_first_image=first, saved_paths=saved, interrupted=interrupted, comments=list(state.comments))
    result.info = result_info(state, result)
    return result


def result_info(state: JobState, result: GenerationResult) -> dict[str, Any]:
    """The dict behind A1111's `info` JSON string."""
    req, ctx, seeds = state.req, state.ctx, state.seeds
    n = req.batch_size * req.n_iter
    return {
        "prompt": state.prompt, "all_prompts": [state.prompt] * n,
        "negative_prompt": state.negative_prompt, "all_negative_prompts": [state.negative_prompt] * n,
        "seed": seeds.seed, "all_seeds": seeds.all_seeds, "subseed": seeds.subseed,
        "all_subseeds": seeds.all_subseeds, "subseed_strength": req.subseed_strength,
        "width": req.width, "height": req.height, "sampler_name": state.sampler.name,
        "cfg_scale": req.cfg_scale, "steps": req.steps, "batch_size": req.batch_size,
        "restore_faces": False, "face_restoration_model": None,
        "sd_model_name": ctx.model_name, "sd_model_hash": ctx.model_hash,
        "sd_vae_name": ctx.vae_name, "sd_vae_hash": ctx.vae_hash,
        "seed_resize_from_w": req.seed_resize_from_w if req.seed_resize_from_w > 0 else -1,
        "seed_resize_from_h": req.seed_resize_from_h if req.seed_resize_from_h > 0 else -1,
        "denoising_strength": req.denoising_strength if req.mode == "img2img" else None,
        "extra_generation_params": dict(state.extra_params),
        "index_of_first_image": result.index_of_first_image,
        "infotexts": result.infotexts, "styles": list(req.styles), "job_timestamp": state.job_timestamp,
        "clip_skip": int(ctx.settings["CLIP_stop_at_last_layers"]),
        "is_using_inpainting_conditioning": ctx.model.family.is_inpainting,
        "version": ctx.version,
        "comments": list(state.comments),  # not in A1111's info: warnings such as a LoRA that was not found
    }
