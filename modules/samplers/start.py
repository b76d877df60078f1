"""Where sampling starts: the initial latent and the noise source for one batch.

Why here and not in the engine: the start depends on the sampler kind in ways that must match
A1111 to reproduce seeds — k-diffusion samplers scale noise by sigma_max (or sqrt(1 + s^2)
with "SGM noise multiplier"), timestep samplers start from unscaled VP noise, img2img slices
the schedule and noises the init latent at a kind-specific level, and SDE samplers take
Brownian-tree noise seeded per image. The latents handed to samplers are always in
k-diffusion space at sigmas[0] (see modules/samplers/timestep.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from modules.noise import ImageRNG, NoiseSampler, make_noise_sampler
from modules.samplers.brownian import BrownianTreeNoiseSampler
from modules.samplers.spec import SamplerSpec
from modules.samplers.timestep import alpha_of


def txt2img_start(
    spec: SamplerSpec, noise: torch.Tensor, sigmas: torch.Tensor, sgm_noise_multiplier: bool = False
) -> torch.Tensor:
    """The sampler's input latent for txt2img from unit noise."""
    sigma = sigmas[0]
    if spec.kind == "timestep" or sgm_noise_multiplier:
        return noise * torch.sqrt(1.0 + sigma**2)
    return noise * sigma


def img2img_steps(steps: int, denoising_strength: float, fix_steps: bool = False) -> tuple[int, int]:
    """(schedule steps, steps actually run - 1 = t_enc), A1111's `setup_img2img_steps`.

    With `img2img_fix_steps` the schedule is stretched so that exactly `steps` steps run.
    """
    if fix_steps:
        total = int(steps / min(denoising_strength, 0.999)) if denoising_strength > 0 else 0
        return total, steps - 1
    return steps, int(min(denoising_strength, 0.999) * steps)


def img2img_start(
    spec: SamplerSpec,
    init_latent: torch.Tensor,
    noise: torch.Tensor,
    sigmas: torch.Tensor,
    steps: int,
    t_enc: int,
    extra_noise: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(input latent, sigmas to run) for img2img from the full schedule of `steps` steps.

    k-diffusion: run sigmas[steps - t_enc - 1:], noise the init latent at the first of them.
    Timestep samplers (A1111 quirk, kept): noise at timestep index t_enc but run the t_enc
    timesteps below it. `extra_noise` is the `img2img_extra_noise` setting.
    """
    if spec.kind != "timestep":
        sched = sigmas[steps - t_enc - 1 :]
        x = init_latent + noise * sched[0]
        if extra_noise > 0:
            x = x + noise * extra_noise
        return x, sched
    count = len(sigmas)
    t_enc = max(1, min(t_enc, count - 1))
    sched = sigmas[count - t_enc :]
    a_noise = alpha_of(sigmas[count - 1 - t_enc])
    x_vp = init_latent * a_noise**0.5 + noise * (1 - a_noise) ** 0.5
    if extra_noise > 0:
        x_vp = x_vp + noise * extra_noise * a_noise**0.5
    return x_vp / alpha_of(sched[0]) ** 0.5, sched


def sampler_noise(
    spec: SamplerSpec,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    rng: ImageRNG,
    seeds: Sequence[int],
    batch_determinism: bool = True,
) -> NoiseSampler:
    """The `noise_sampler` for a run: per-image Brownian trees for SDE samplers, else the RNG.

    Pass the full schedule (A1111 sizes the tree from it even for img2img) and the batch's
    seeds. With `batch_determinism` off (A1111's `no_dpmpp_sde_batch_determinism`) SDE
    samplers draw from the image RNG instead.
    """
    if spec.brownian and batch_determinism:
        positive = sigmas[sigmas > 0]
        return BrownianTreeNoiseSampler(x, positive.min(), sigmas.max(), list(seeds))
    return make_noise_sampler(rng)
