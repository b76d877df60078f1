"""Run one batch through a sampler: conditioning, guidance, noise, callbacks.

Shared by txt2img (start from pure noise) and img2img (start from a noised init latent over
a shortened schedule); the sampler functions themselves live in modules/samplers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import torch

from modules.engine.batch_hooks import HIRES_PASS
from modules.engine.denoiser import CFGDenoiser, DenoiserHooks, GuidanceInputs
from modules.engine.guidance_hooks import StepInfo
from modules.engine.preview import cheap_preview
from modules.engine.sdxl import sdxl_time_ids
from modules.engine.stages import pass_stage
from modules.hooks.payloads import BeforeSampling
from modules.noise import ImageRNG
from modules.samplers.discretization import DiscreteSchedule
from modules.samplers.options import SamplerOptions, options_for
from modules.samplers.progress_text import adaptive_progress_text
from modules.samplers.sigma_plan import ScheduleSettings, build_schedule
from modules.samplers.start import sampler_noise, txt2img_start

if TYPE_CHECKING:
    from modules.engine.processing import BatchPlan, JobState


@dataclass
class SamplingSetup:
    """What differs between modes: the start latent, the sigmas and any image conditioning."""

    x: torch.Tensor  # already scaled by the first sigma (txt2img) or noised (img2img)
    sigmas: torch.Tensor
    image_cond: torch.Tensor | None = None
    blend: Any = None  # callable(x, sigma) -> x used by inpainting with ordinary models
    noise: torch.Tensor | None = None  # the seeded unit noise, where the mode has it (before_sampling hooks)


def make_rng(state: "JobState", plan: "BatchPlan", latent_hw: tuple[int, int]) -> ImageRNG:
    req, ctx = state.req, state.ctx
    f = state.model.vae_downscale
    return ImageRNG(
        (state.model.latent_channels, *latent_hw), plan.seeds, subseeds=plan.subseeds,
        subseed_strength=req.subseed_strength,
        seed_resize_from_h=max(req.seed_resize_from_h, 0), seed_resize_from_w=max(req.seed_resize_from_w, 0),
        source=ctx.settings["randn_source"], device=ctx.device,
        eta_noise_seed_delta=int(ctx.settings["eta_noise_seed_delta"]), latent_factor=f)


def guidance_inputs(state: "JobState", plan: "BatchPlan", image_cond: torch.Tensor | None) -> GuidanceInputs:
    ctx, spec, model = state.ctx, state.active.spec, state.model
    prompts, negatives = pass_prompts(state, plan)
    # A later pass (hires fix) reads prompt-editing ranges above 1 as its own steps, as A1111 does;
    # a refiner continues the schedule of the pass it took over from.
    base = state.base_index(state.active.index)
    steps, hires_steps = (state.passes[0].steps, None) if base == 0 else (state.passes[0].steps,
                                                                          state.passes[base].steps)
    conditioner = state.active.conditioner or state.conditioner  # the pass model's text encoders
    with pass_stage(state, "text_encoders"):
        cond = conditioner.get_multicond_learned_conditioning(prompts, steps, hires_steps)
        uncond = conditioner.get_learned_conditioning(negatives, steps, hires_steps, is_negative_prompt=True)
    tid_c = tid_u = None
    if model.family.is_sdxl:  # a refiner's are aesthetic scores, a base model's sizes
        tid_c, tid_u = sdxl_time_ids(model, spec.width, spec.height, len(plan.prompts), ctx.settings)
        # On the sampling device: the denoiser indexes them with row indices made beside the latents.
        tid_c, tid_u = tid_c.to(ctx.device), tid_u.to(ctx.device)
    return GuidanceInputs(cond, uncond, spec.cfg_scale, image_cond=image_cond, time_ids_cond=tid_c,
                          time_ids_uncond=tid_u, pad_cond_uncond=bool(ctx.settings["pad_cond_uncond"]))


def pass_prompts(state: "JobState", plan: "BatchPlan") -> tuple[list[str], list[str]]:
    """The batch's prompts, or the active pass's own ones (tags stripped) when it has them."""
    from modules.text.extra_networks import parse_prompt_extra_networks

    spec, n = state.active.spec, len(plan.prompts)
    if spec.name == HIRES_PASS and plan.hr_prompts is not None and plan.hr_negative_prompts is not None:
        return plan.hr_prompts, plan.hr_negative_prompts  # each picture's own hires prompts
    prompts = plan.prompts if spec.prompt is None else [parse_prompt_extra_networks(spec.prompt)[0]] * n
    negatives = plan.negative_prompts if spec.negative_prompt is None else [spec.negative_prompt] * n
    return prompts, negatives


def discrete_schedule(model: Any) -> DiscreteSchedule:
    """The model's sigma table, built once per loaded model."""
    if model.derived.discrete_schedule is None:
        model.derived.discrete_schedule = DiscreteSchedule(model.alphas_cumprod.float().cpu())
    return model.derived.discrete_schedule


def plan_sigmas(state: "JobState", steps: int) -> torch.Tensor:
    """The sampler's sigmas for `steps` steps; records what the infotext must say about them."""
    ctx, active = state.ctx, state.active
    built = build_schedule(active.sampler, active.scheduler, steps, discrete_schedule(state.model),
                           ScheduleSettings.from_settings(ctx.settings), is_sdxl=state.model.family.is_sdxl)
    active.params.update(built.extra_params)
    return built.sigmas


def sampler_options(state: "JobState") -> SamplerOptions:
    req, ctx = state.req, state.ctx
    active = state.active
    options, info = options_for(active.sampler, ctx.settings, eta=req.eta, s_churn=req.s_churn, s_tmin=req.s_tmin,
                                s_tmax=req.s_tmax, s_noise=req.s_noise, schedule=discrete_schedule(state.model),
                                img2img=req.mode == "img2img" or state.base_index(active.index) > 0)
    active.params.update(info)
    return options


def run_sampler(state: "JobState", plan: "BatchPlan", setup: SamplingSetup, rng: ImageRNG,
                full_sigmas: torch.Tensor | None = None, step_offset: int = 0) -> torch.Tensor:
    """Sample one batch; reports each step to the job control (progress, preview, interrupt)."""
    ctx, active = state.ctx, state.active
    spec, contribution = active.sampler, active.contribution
    full_sigmas = setup.sigmas if full_sigmas is None else full_sigmas
    setup = hand_over(state, setup, rng, full_sigmas, step_offset)
    if len(setup.sigmas) < 2:  # a refiner takes over at once: nothing to sample on this model
        state.report_pass_steps(0)
        return setup.x
    schedule = discrete_schedule(state.model)
    inputs = guidance_inputs(state, plan, setup.image_cond)
    inputs.cfg_scale *= spec.cfg_scale_multiplier
    conditioner = active.conditioner or state.conditioner
    empty = conditioner.empty_chunk().crossattn if inputs.pad_cond_uncond else None
    total = len(setup.sigmas) - 1
    state.report_pass_steps(total)
    hooks = DenoiserHooks(contribution.unet_wrappers, contribution.pre_cfg, contribution.post_cfg,
                          pass_index=active.index, total_steps=total)
    denoiser = CFGDenoiser(state.model, schedule, inputs, empty_chunk=empty, hooks=hooks)
    denoiser.step = step_offset
    model_fn = denoiser if setup.blend is None else _Blended(denoiser, setup.blend)
    matrix = ctx.preview_matrix

    def callback(d: dict[str, Any]) -> None:
        denoiser.step = step_offset + d["i"] + 1
        for hook in contribution.on_step:
            hook(StepInfo(d["i"] + 1, total, active.index, d["sigma"], d["x"], d["denoised"]))
        preview = None
        if matrix is not None:
            preview = lambda: cheap_preview(d["denoised"][0], matrix)  # noqa: E731
        if spec.ignores_steps:
            state.control.textinfo = adaptive_progress_text(spec.name, d["i"] + 1)
        state.control.step(active.step_offset + d["i"] + 1, preview)

    noise = sampler_noise(spec, setup.x, full_sigmas, rng, plan.seeds)
    options = sampler_options(state)
    x = before_sampling(state, plan, setup, inputs)
    with pass_stage(state, "unet"):
        try:
            return spec.fn(model_fn, x, setup.sigmas, extra_args={}, callback=callback,
                           noise_sampler=noise, options=options)
        finally:
            if spec.ignores_steps:
                state.control.textinfo = None  # the step-count note is about this pass only


def switch_step(state: "JobState", sigmas: torch.Tensor) -> int | None:
    """When the next pass continues this one's schedule (a refiner), the step it takes over at.

    A1111's rule: by sigma (default), the refiner takes over at the first step whose sigma's
    training timestep t has (999 - t) / 1000 >= switch_at; by steps, at step ceil(switch_at * steps)."""
    index = state.active.index + 1
    if index >= len(state.passes) or state.passes[index].continues_at is None:
        return None
    following = state.passes[index]
    at, total = float(following.continues_at), len(sigmas) - 1
    if following.continue_by_steps:
        return min(total, max(0, math.ceil(at * total - 1e-9)))
    table = discrete_schedule(state.model).sigmas
    for i in range(total):
        t = int(torch.argmin((table - sigmas[i].to(table)).abs()))
        if (999 - t) / 1000 >= at:
            return i
    return total


def hand_over(state: "JobState", setup: SamplingSetup, rng: ImageRNG, full_sigmas: torch.Tensor,
              step_offset: int) -> SamplingSetup:
    """Stop this pass where a following refiner takes over, leaving it the rest of the schedule."""
    state.handover = None
    cut = switch_step(state, setup.sigmas)
    if cut is None or cut >= len(setup.sigmas) - 1:
        return setup
    from modules.engine.processing import Handover

    state.handover = Handover(setup.sigmas[cut:], rng, full_sigmas, step_offset + cut, setup.image_cond, setup.blend)
    return replace(setup, sigmas=setup.sigmas[:cut + 1])


def before_sampling(state: "JobState", plan: "BatchPlan", setup: SamplingSetup, inputs: GuidanceInputs) -> torch.Tensor:
    """The `before_sampling` hooks (A1111's process_before_every_sampling): they may change x."""
    hooks = state.ctx.hooks
    if hooks is None or not hooks.has("before_sampling"):
        return setup.x
    payload = BeforeSampling(state.req, plan.index, state.active.index, setup.x, setup.noise, inputs.cond,
                             inputs.uncond)
    hooks.call("before_sampling", payload)
    return payload.x


class _Blended:
    """Inpainting with ordinary models: blend the known region back after every model call."""

    def __init__(self, denoiser: CFGDenoiser, blend: Any) -> None:
        self.denoiser, self.blend = denoiser, blend

    @property
    def last_uncond_denoised(self) -> Any:
        return self.denoiser.last_uncond_denoised

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, **kw: Any) -> torch.Tensor:
        return self.blend(self.denoiser(x, sigma, **kw), sigma)


def txt2img_batch(state: "JobState", plan: "BatchPlan") -> torch.Tensor:
    """Noise at the first sigma of the schedule, then the sampler."""
    req, ctx = state.req, state.ctx
    f = state.model.vae_downscale
    rng = make_rng(state, plan, (req.height // f, req.width // f))
    sigmas = plan_sigmas(state, req.steps)
    noise = rng.first()
    x = txt2img_start(state.active.sampler, noise, sigmas, bool(ctx.settings["sgm_noise_multiplier"]))
    image_cond = txt2img_image_cond(state, len(plan.prompts), x.shape[-2:])
    return run_sampler(state, plan, SamplingSetup(x, sigmas, image_cond, noise=noise), rng)


def txt2img_image_cond(state: "JobState", batch: int, latent_hw: torch.Size) -> torch.Tensor | None:
    """Inpainting models in txt2img: mask all ones, masked image = the latent of a grey picture."""
    model = state.model
    if not model.family.is_inpainting:
        return None
    from modules.engine.decode import encode_images

    f = model.vae_downscale
    grey = torch.zeros(1, 3, latent_hw[0] * f, latent_hw[1] * f)
    with pass_stage(state, "vae"):
        latent = encode_images(model, grey)
    mask = torch.ones(1, 1, *latent.shape[-2:])
    return torch.cat([mask, latent], dim=1).expand(batch, -1, -1, -1).to(state.ctx.device)
