"""The engine's image equals stock diffusers' pipeline image on the same weights and seed.

Stock `StableDiffusionPipeline` is built from the very modules our loader made, with the
diffusers scheduler equivalent to the A1111 sampler, and given the same sigma schedule
(A1111's "Automatic" schedule is k-diffusion's discretisation of the model's sigmas; diffusers
takes it through `sigmas=`). Diffusers multiplies given latents by `init_noise_sigma`, so the
test hands it the same unit noise the engine draws from the seed, and the same generator
(advanced past that noise) for the ancestral steps.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modules.engine.generate import generate
from modules.engine.request import GenerationRequest
from modules.engine.sampling import discrete_schedule
from tests.engine_helpers import engine_context, pixels

SEED, STEPS, SIZE, CFG = 77, 6, 64, 6.0


def _pipeline(model, scheduler):
    from diffusers import StableDiffusionPipeline

    enc = model.text_encoders[0]
    return StableDiffusionPipeline(vae=model.vae, text_encoder=enc.model, tokenizer=enc.tokenizer, unet=model.unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)


def _scheduler(name, model, sigmas):
    """The diffusers scheduler for `name`, pinned to the engine's sigma schedule."""
    import diffusers

    base = {"Euler": diffusers.EulerDiscreteScheduler, "Euler a": diffusers.EulerAncestralDiscreteScheduler,
            "LMS": diffusers.LMSDiscreteScheduler, "DPM++ 2M": diffusers.DPMSolverMultistepScheduler}[name]
    schedule = discrete_schedule(model)
    pinned = torch.tensor(sigmas, dtype=torch.float32)

    class Pinned(base):
        def set_timesteps(self, num_inference_steps=None, device=None, **kw):
            super().set_timesteps(num_inference_steps, device=device)
            self.sigmas = torch.cat([pinned, torch.zeros(1)])
            self.timesteps = schedule.sigma_to_t(pinned).to(torch.float32)

    extra = {"algorithm_type": "dpmsolver++", "solver_order": 2, "final_sigmas_type": "zero",
             "lower_order_final": True} if name == "DPM++ 2M" else {}
    return Pinned(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                  prediction_type=model.prediction_type, timestep_spacing="linspace", steps_offset=1, **extra)


@pytest.mark.parametrize("sampler", ["Euler", "Euler a", "LMS", "DPM++ 2M"])
def test_engine_matches_stock_diffusers(tiny_sd1, tmp_path, sampler):
    ctx = engine_context(tiny_sd1, tmp_path)
    model = ctx.model
    req = GenerationRequest(prompt="a red circle on a blue background", negative_prompt="green", seed=SEED,
                            steps=STEPS, width=SIZE, height=SIZE, cfg_scale=CFG, sampler_name=sampler,
                            save_images=False)
    ours = pixels(generate(req, ctx).images[0])

    from modules.engine.processing import start_job
    from modules.engine.sampling import plan_sigmas
    from modules.jobs.progress import JobControl

    sigmas = plan_sigmas(start_job(req, ctx, JobControl()), STEPS)[:-1].tolist()
    gen = torch.Generator().manual_seed(SEED)
    noise = torch.randn((1, 4, SIZE // 8, SIZE // 8), generator=gen)
    scheduler = _scheduler(sampler, model, sigmas)
    scheduler.set_timesteps(STEPS)
    # k-diffusion starts at x = noise * sigma_max; a VP-space scheduler (init_noise_sigma 1, e.g. DPM-Solver)
    # holds the same point as x / sqrt(1 + sigma^2).
    start = sigmas[0] if float(scheduler.init_noise_sigma) != 1.0 else sigmas[0] / (1 + sigmas[0] ** 2) ** 0.5
    noise = noise * start / float(scheduler.init_noise_sigma)
    pipe = _pipeline(model, scheduler)
    out = pipe(req.prompt, negative_prompt=req.negative_prompt, num_inference_steps=STEPS, guidance_scale=CFG,
               height=SIZE, width=SIZE, latents=noise, generator=gen, output_type="np")
    theirs = (np.clip(out.images[0], 0, 1) * 255).astype(np.int16)
    diff = np.abs(ours - theirs)
    assert diff.max() <= 1, f"max pixel difference {diff.max()} (mean {diff.mean():.4f})"
