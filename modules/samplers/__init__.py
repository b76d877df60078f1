"""Samplers, schedule types and the sigma plumbing between them (A1111-compatible).

How the engine drives one batch (each step is one call into this package):

1. `SamplerRegistry.resolve(sampler_name, scheduler)` -> (SamplerSpec, SchedulerSpec); raises
   UnknownSamplerError with the valid names.
2. `sigma_plan.build_schedule(spec, scheduler, steps, DiscreteSchedule(model.alphas_cumprod),
   ScheduleSettings.from_settings(settings), is_sdxl=...)` -> sigmas, the infotext "Schedule type"
   label and extra infotext entries.
3. `options.options_for(spec, settings, eta=..., s_churn=..., schedule=..., img2img=...)` ->
   SamplerOptions and the "Eta"/"Sigma churn"/... infotext entries.
4. `noise.ImageRNG(...)`, then `start.txt2img_start(spec, rng.first(), sigmas)` or
   `start.img2img_start(...)` -> the input latent (k-diffusion space at sigmas[0]).
5. `start.sampler_noise(spec, x, sigmas, rng, seeds)` -> the noise_sampler.
6. `spec.fn(denoiser, x, sigmas, extra_args=..., callback=..., noise_sampler=..., options=...)`
   -> the latent to decode. The denoiser is `model(x, sigma_batch, **extra_args) -> x0`.
   For DDIM CFG++ multiply the CFG scale by `spec.cfg_scale_multiplier` and expose the
   unconditional branch's result as `denoiser.last_uncond_denoised`.

Submodules are imported explicitly (nothing is re-exported here) to keep imports cheap.
"""
