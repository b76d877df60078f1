"""What the engine hands DPM fast / DPM adaptive: the facts their A1111 behaviour depends on.

The samplers integrate over the model's own sigma range in txt2img and over the sliced schedule
in img2img (tests/test_samplers_kdiffusion.py checks both against k-diffusion). That choice rests
on the engine passing the model's schedule and the right `img2img` flag; this checks it does,
through the ordinary generate() path with the tiny checkpoint.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from modules.engine.generate import generate
from modules.engine.request import GenerationRequest
from modules.samplers import dpm_solver
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
