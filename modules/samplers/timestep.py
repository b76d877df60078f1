"""DDIM, DDIM CFG++ and PLMS on the model's discrete timesteps, as A1111 runs them.

A1111 drives these with an epsilon model on VP latents (x_t = sqrt(a_t) x0 + sqrt(1-a_t) eps)
at integer timesteps. Here they use the same k-diffusion denoiser as every other sampler,
through the exact correspondence

    sigma_t = sqrt((1 - a_t) / a_t),   x_k = x_t / sqrt(a_t) = x_t * sqrt(1 + sigma_t^2),
    eps = (x_k - D(x_k, sigma_t)) / sigma_t,   pred_x0 = D(x_k, sigma_t).

Contract for these samplers (what `build_sigmas` gives them):
- `sigmas` are the sigmas of A1111's timesteps, descending, with no trailing zero; the model
  is only ever called at these exact table sigmas, so the UNet sees integer timesteps.
- `x` is in k-diffusion space at sigmas[0] (initial VP noise times sqrt(1 + sigmas[0]^2)).
- The result is the VP latent at the last timestep, which is what A1111 decodes: like A1111
  they run len(sigmas) - 1 updates and stop at the smallest timestep (t=1), not at sigma 0.
- The callback's "x" is the VP latent and "denoised" the predicted x0, as A1111 reports.
"""

from __future__ import annotations

from typing import Any

import torch

from modules.samplers.kdiffusion import DEFAULT_OPTIONS, Model, NoiseFn, default_noise
from modules.samplers.options import SamplerOptions
from modules.samplers.sampling_math import Callback, batch_sigma, report


def alpha_of(sigma: torch.Tensor) -> float:
    """alphas_cumprod at the timestep whose sigma this is (in float64, as A1111's alphas_prev)."""
    s = float(sigma)
    return 1.0 / (1.0 + s * s)


def to_vp(x_k: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    return x_k * alpha_of(sigma) ** 0.5


def eps_and_x0(
    model: Model, x_vp: torch.Tensor, sigma: torch.Tensor, extra_args: dict[str, Any]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise prediction and x0 prediction at a timestep's sigma from a VP latent."""
    x_k = x_vp / alpha_of(sigma) ** 0.5
    denoised = model(x_k, batch_sigma(x_k, sigma), **extra_args)
    return (x_k - denoised) / sigma, denoised


def _check(sigmas: torch.Tensor, name: str) -> None:
    if len(sigmas) < 1:
        raise ValueError(f"{name} needs at least one timestep")
    if float(sigmas[-1]) <= 0:
        raise ValueError(
            f"{name} runs on the model's timesteps: pass their sigmas without the trailing 0 "
            "(build_sigmas does this for timestep samplers)"
        )


def _ddim_update(
    x_vp: torch.Tensor,
    e_t: torch.Tensor,
    dir_eps: torch.Tensor,
    a_t: float,
    a_prev: float,
    eta: float,
    noise: NoiseFn,
    sigma: torch.Tensor,
    sigma_next: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    sigma_t = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)) ** 0.5
    pred_x0 = (x_vp - (1 - a_t) ** 0.5 * e_t) / a_t**0.5
    x_prev = a_prev**0.5 * pred_x0 + (1.0 - a_prev - sigma_t**2) ** 0.5 * dir_eps
    if sigma_t > 0:
        x_prev = x_prev + sigma_t * noise(sigma, sigma_next)
    return x_prev, pred_x0


def _uncond_eps(model: Model, x_vp: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    uncond = getattr(model, "last_uncond_denoised", None)
    if uncond is None:
        raise ValueError(
            "DDIM CFG++ needs the CFG denoiser to expose `last_uncond_denoised` (the unconditional "
            "branch's denoised latent of the last call); this model wrapper does not"
        )
    x_k = x_vp / alpha_of(sigma) ** 0.5
    return (x_k - uncond) / sigma


def _ddim_loop(
    model: Model,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    extra_args: dict[str, Any] | None,
    callback: Callback | None,
    noise_sampler: NoiseFn | None,
    eta: float,
    cfgpp: bool,
) -> torch.Tensor:
    extra_args = extra_args or {}
    noise = default_noise(x, noise_sampler)
    x_vp = to_vp(x, sigmas[0])
    for i in range(len(sigmas) - 1):
        e_t, _ = eps_and_x0(model, x_vp, sigmas[i], extra_args)
        dir_eps = _uncond_eps(model, x_vp, sigmas[i]) if cfgpp else e_t
        x_vp, pred_x0 = _ddim_update(
            x_vp,
            e_t,
            dir_eps,
            alpha_of(sigmas[i]),
            alpha_of(sigmas[i + 1]),
            eta,
            noise,
            sigmas[i],
            sigmas[i + 1],
        )
        report(callback, i, x_vp, sigmas[i], sigmas[i], pred_x0)
    return x_vp


@torch.no_grad()
def ddim(
    model: Model,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseFn | None = None,
    options: SamplerOptions = DEFAULT_OPTIONS,
) -> torch.Tensor:
    """DDIM (Song et al. 2021) with eta; `options.eta` is A1111's "Eta DDIM" (default 0)."""
    _check(sigmas, "DDIM")
    return _ddim_loop(model, x, sigmas, extra_args, callback, noise_sampler, options.eta, cfgpp=False)


@torch.no_grad()
def ddim_cfgpp(
    model: Model,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseFn | None = None,
    options: SamplerOptions = DEFAULT_OPTIONS,
) -> torch.Tensor:
    """DDIM with CFG++ (Chung et al. 2024): renoise along the unconditional noise prediction.

    The engine must also scale the CFG scale by the spec's `cfg_scale_multiplier` (1/12.5),
    as A1111 maps CFG [0, 12.5] to CFG++'s [0, 1].
    """
    _check(sigmas, "DDIM CFG++")
    return _ddim_loop(model, x, sigmas, extra_args, callback, noise_sampler, options.eta, cfgpp=True)


def _plms_combine(e_t: torch.Tensor, old_eps: list[torch.Tensor]) -> torch.Tensor:
    """Adams-Bashforth combination of the current and up to three previous noise predictions."""
    if len(old_eps) == 1:
        return (3 * e_t - old_eps[-1]) / 2
    if len(old_eps) == 2:
        return (23 * e_t - 16 * old_eps[-1] + 5 * old_eps[-2]) / 12
    return (55 * e_t - 59 * old_eps[-1] + 37 * old_eps[-2] - 9 * old_eps[-3]) / 24


def _plms_prev(
    x_vp: torch.Tensor, e_t: torch.Tensor, a_t: float, a_prev: float
) -> tuple[torch.Tensor, torch.Tensor]:
    pred_x0 = (x_vp - (1 - a_t) ** 0.5 * e_t) / a_t**0.5
    return a_prev**0.5 * pred_x0 + (1.0 - a_prev) ** 0.5 * e_t, pred_x0


@torch.no_grad()
def plms(
    model: Model,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseFn | None = None,
    options: SamplerOptions = DEFAULT_OPTIONS,
) -> torch.Tensor:
    """Pseudo linear multistep (Liu et al. 2022): a pseudo improved Euler first step, then AB2-4."""
    _check(sigmas, "PLMS")
    extra_args = extra_args or {}
    x_vp = to_vp(x, sigmas[0])
    old_eps: list[torch.Tensor] = []
    for i in range(len(sigmas) - 1):
        a_t, a_prev = alpha_of(sigmas[i]), alpha_of(sigmas[i + 1])
        e_t, _ = eps_and_x0(model, x_vp, sigmas[i], extra_args)
        if not old_eps:
            x_prev, _ = _plms_prev(x_vp, e_t, a_t, a_prev)
            e_t_next, _ = eps_and_x0(model, x_prev, sigmas[i + 1], extra_args)
            e_t_prime = (e_t + e_t_next) / 2
        else:
            e_t_prime = _plms_combine(e_t, old_eps)
        x_vp, pred_x0 = _plms_prev(x_vp, e_t_prime, a_t, a_prev)
        old_eps.append(e_t)
        if len(old_eps) >= 4:
            old_eps.pop(0)
        report(callback, i, x_vp, sigmas[i], sigmas[i], pred_x0)
    return x_vp
