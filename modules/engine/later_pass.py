"""A pass after the first (hires fix, refiner): start from the previous pass's latents.

The pass's `source` turns the previous latents into a start latent at this pass's size (a
latent upscale unless the pass says otherwise); it is then noised to the pass's denoising
strength and sampled over the tail of its schedule, exactly as img2img samples an init latent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from modules.engine.decode import decode_latents, encode_images
from modules.engine.passes import PassOutput, latent_upscale
from modules.engine.sampling import SamplingSetup, make_rng, plan_sigmas, run_sampler
from modules.engine.stages import pass_stage
from modules.samplers.start import img2img_start, img2img_steps

if TYPE_CHECKING:
    from modules.engine.processing import BatchPlan, JobState

DEFAULT_STRENGTH = 0.7  # A1111's hires-fix default


def pass_output(state: "JobState", index: int, latents: torch.Tensor, plan: "BatchPlan | None" = None) -> PassOutput:
    """The previous pass's latents, with VAE decode/encode that run inside this pass's vae scope,
    and (with the batch `plan`) a saver for intermediate pictures such as hires fix's first pass."""
    model, device = state.model, state.ctx.device

    def decode(lat: torch.Tensor) -> torch.Tensor:
        with pass_stage(state, "vae"):
            return decode_latents(model, lat, state.ctx.settings).to(device)

    def encode(images: torch.Tensor) -> torch.Tensor:
        with pass_stage(state, "vae"):
            return encode_images(model, images, settings=state.ctx.settings).to(device)

    def save_intermediate(images: torch.Tensor, suffix: str) -> list[str]:
        from modules.engine.decode import to_pil
        from modules.engine.infotext_params import generation_infotext
        from modules.engine.saving import save_sample

        assert plan is not None
        first = plan.index * state.req.batch_size
        return [save_sample(state, picture, first + j, generation_infotext(state, first + j), suffix=suffix)
                for j, picture in enumerate(to_pil(images.float().cpu()))]

    saver = save_intermediate if plan is not None else None
    return PassOutput(latents, state.passes[index - 1], decode, encode, saver)


def run_later_pass(state: "JobState", plan: "BatchPlan", index: int, latents: torch.Tensor) -> torch.Tensor:
    """Sample pass `index` (≥ 1) of one batch from the previous pass's latents."""
    ctx = state.ctx
    if state.passes[index].continues_at is not None:
        return continue_schedule(state, plan, index, latents)
    active = state.enter_pass(index)
    spec = active.spec
    f = state.model.vae_downscale
    latent_hw = (spec.height // f, spec.width // f)
    source = spec.source or latent_upscale()
    init = source(pass_output(state, index, latents, plan), spec).to(ctx.device)
    if tuple(init.shape[-2:]) != latent_hw:
        raise ValueError(f"pass '{spec.name}': its source made latents of {tuple(init.shape[-2:])}, "
                         f"the pass needs {latent_hw} for {spec.width}x{spec.height}")
    strength = DEFAULT_STRENGTH if spec.denoising_strength is None else spec.denoising_strength
    steps, t_enc = img2img_steps(spec.steps, strength, bool(ctx.settings["img2img_fix_steps"]))
    sigmas = plan_sigmas(state, steps)
    rng = make_rng(state, plan, latent_hw)
    x, schedule = img2img_start(active.sampler, init, rng.first().to(init), sigmas, steps, t_enc)
    return run_sampler(state, plan, SamplingSetup(x, schedule), rng, full_sigmas=sigmas)


def continue_schedule(state: "JobState", plan: "BatchPlan", index: int, latents: torch.Tensor) -> torch.Tensor:
    """A refiner: the same sampler continues on the previous pass's latents over the sigmas that pass
    left, with this pass's model and that model's conditioning. Nothing to do (and no model to load)
    when the previous pass never reached the switch."""
    handover, state.handover = state.handover, None
    if handover is None:
        state.pass_steps[index] = 0
        state.control.set_total_steps(state.total_steps)
        return latents
    active = state.enter_pass(index)
    state.switched.add(index)
    image_cond = handover.image_cond
    if active.model.family.is_inpainting and image_cond is None:
        raise ValueError(f"pass '{active.spec.name}': {active.model.title or 'the checkpoint'} is an inpainting "
                         "model and needs an image to inpaint; choose a refiner that is not an inpainting model")
    if not active.model.family.is_inpainting:
        image_cond = None
    setup = SamplingSetup(latents, handover.sigmas, image_cond, handover.blend)
    return run_sampler(state, plan, setup, handover.rng, full_sigmas=handover.full_sigmas,
                       step_offset=handover.step_offset)
