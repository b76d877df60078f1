"""What the engine hands DPM fast / DPM adaptive: the facts their A1111 behaviour depends on.

The samplers integrate over the model's own sigma range in txt2img and over the sliced schedule
in img2img (tests/test_samplers_kdiffusion.py checks both against k-diffusion). That choice rests
on the engine passing the model's schedule and the right `img2img` flag; this checks it does,
through the ordinary generate() path with the tiny checkpoint. The last test runs Euler with
churn through that path against k-diffusion on the image RNG's draws.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from modules.engine.generate import generate
from modules.engine.request import GenerationRequest
from modules.samplers import dpm_solver, kdiffusion
from modules.samplers.discretization import DiscreteSchedule
from tests.image_helpers import noise_image

SMALL = dict(width=64, height=64, steps=4, cfg_scale=5.0, seed=5, save_images=False, scheduler="SGM Uniform")


def _capturing_dpm_fast(ctx, seen: list) -> str:
    """Register a copy of DPM fast that records what the engine passes it."""

    def fn(model, x, sigmas, **kwargs):
        seen.append((sigmas.clone(), kwargs["options"]))
        return dpm_solver.dpm_fast(model, x, sigmas, **kwargs)

    ctx.samplers.add(replace(ctx.samplers.get("DPM fast"), name="DPM fast (recorded)", aliases=(), fn=fn))
    return "DPM fast (recorded)"


def test_txt2img_gives_dpm_fast_the_models_schedule_and_the_full_step_count(ctx):
    seen: list = []
    name = _capturing_dpm_fast(ctx, seen)
    generate(GenerationRequest(prompt="x", sampler_name=name, **SMALL), ctx)
    (sigmas, options), = seen
    assert not options.img2img
    model_table = DiscreteSchedule(ctx.model.alphas_cumprod.float().cpu())
    assert options.schedule is not None and torch.equal(options.schedule.sigmas, model_table.sigmas)
    assert len(sigmas) - 1 == SMALL["steps"]


def test_img2img_gives_dpm_fast_the_sliced_schedule(ctx):
    seen: list = []
    name = _capturing_dpm_fast(ctx, seen)
    generate(GenerationRequest(prompt="x", sampler_name=name, mode="img2img", init_images=(noise_image(),),
                               denoising_strength=0.5, **SMALL), ctx)
    (sigmas, options), = seen
    assert options.img2img
    assert len(sigmas) - 1 < SMALL["steps"]


def test_euler_with_limited_churn_through_the_engine_equals_k_diffusion_on_the_image_rng(ctx):
    """The whole path: the engine's CFG denoiser, start latent and image-RNG noise sampler. Our Euler
    draws from the image RNG on every step; k-diffusion's sample_euler, given the same draws in
    place of torch.randn_like (A1111's routing), asks for exactly those and gives the same latent."""
    from tests.kdiffusion_reference import load_sampling, routed_randn

    ref = load_sampling()
    runs: list = []

    def fn(model, x, sigmas, *, noise_sampler, options, **kwargs):
        draws: list = []
        ours = kdiffusion.euler(model, x.clone(), sigmas, options=options,
                                noise_sampler=lambda s, sn: draws.append(noise_sampler(s, sn)) or draws[-1],
                                **kwargs)
        queue = list(draws)
        with routed_randn(ref, lambda like: queue.pop(0)):
            theirs = ref.sample_euler(model, x.clone(), sigmas, disable=True, s_churn=options.s_churn,
                                      s_tmin=options.s_tmin, s_tmax=options.s_tmax, s_noise=options.s_noise)
        runs.append((ours, theirs, len(draws), len(queue), sigmas))
        return ours

    ctx.samplers.add(replace(ctx.samplers.get("Euler"), name="Euler (checked)", aliases=(), fn=fn))
    generate(GenerationRequest(prompt="x", sampler_name="Euler (checked)", s_churn=2.0, s_tmin=0.5, s_tmax=5.0,
                               s_noise=1.003, **{**SMALL, "steps": 8, "scheduler": "Karras"}), ctx)
    (ours, theirs, drawn, left, sigmas), = runs
    churned = [0.5 <= float(s) <= 5.0 for s in sigmas[:-1]]
    assert any(churned) and not all(churned)
    assert drawn == len(sigmas) - 1 and left == 0
    assert torch.equal(ours, theirs)
