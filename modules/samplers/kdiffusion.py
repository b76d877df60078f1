"""The classic Karras-ODE samplers: Euler, Euler a, Heun, DPM2, DPM2 a and LMS.

Written from Karras et al. 2022 ("Elucidating the design space", Alg. 1 and 2) and the
k-diffusion conventions A1111 runs: `model(x, sigma_batch)` returns the denoised x0, the
latent lives in k-diffusion space (x = x0 + sigma * noise), sigmas end with 0, and ancestral
noise comes from `noise_sampler(sigma, sigma_next)`. Step-for-step behaviour (when noise is
drawn, Euler at the last step of second-order methods) matches A1111 so seeds reproduce.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from scipy import integrate

from modules.samplers.options import SamplerOptions
from modules.samplers.sampling_math import (
    Callback,
    ancestral_step,
    batch_sigma,
    churn_gamma,
    is_zero,
    report,
    to_d,
)

Model = Callable[..., torch.Tensor]
NoiseFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
DEFAULT_OPTIONS = SamplerOptions()


def default_noise(x: torch.Tensor, noise_sampler: NoiseFn | None) -> NoiseFn:
    """Unseeded fallback for callers (tests, scripts) that do not pass the job's noise source."""
    if noise_sampler is not None:
        return noise_sampler
    return lambda sigma, sigma_next: torch.randn_like(x)


def _churn(
    x: torch.Tensor, sigmas: torch.Tensor, i: int, noise: NoiseFn, options: SamplerOptions
) -> tuple[torch.Tensor, torch.Tensor]:
    """Raise the noise level from sigma_i to sigma_hat by adding fresh noise (when churn applies).

    The noise is drawn on every step, churned or not, as k-diffusion does: A1111 takes those
    draws from the image RNG, so the draw used at a churned step must be that step's own.
    """
    gamma = churn_gamma(sigmas[i], len(sigmas) - 1, options.s_churn, options.s_tmin, options.s_tmax)
    eps = noise(sigmas[i], sigmas[i + 1]) * options.s_noise
    sigma_hat = sigmas[i] * (gamma + 1)
    if gamma > 0:
        x = x + eps * (sigma_hat**2 - sigmas[i] ** 2) ** 0.5
    return x, sigma_hat


@torch.no_grad()
def euler(
    model: Model,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseFn | None = None,
    options: SamplerOptions = DEFAULT_OPTIONS,
) -> torch.Tensor:
    """Euler's method on the probability-flow ODE (Karras Alg. 2 without the Heun correction)."""
    extra_args = extra_args or {}
    noise = default_noise(x, noise_sampler)
    for i in range(len(sigmas) - 1):
        x, sigma_hat = _churn(x, sigmas, i, noise, options)
        denoised = model(x, batch_sigma(x, sigma_hat), **extra_args)
        d = to_d(x, sigma_hat, denoised)
        report(callback, i, x, sigmas[i], sigma_hat, denoised)
        x = x + d * (sigmas[i + 1] - sigma_hat)
    return x


@torch.no_grad()
def euler_ancestral(
    model: Model,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseFn | None = None,
    options: SamplerOptions = DEFAULT_OPTIONS,
) -> torch.Tensor:
    """Euler step down to sigma_down, then fresh noise up to sigma_next ("Euler a")."""
    extra_args = extra_args or {}
    noise = default_noise(x, noise_sampler)
    for i in range(len(sigmas) - 1):
        denoised = model(x, batch_sigma(x, sigmas[i]), **extra_args)
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], options.eta)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        x = x + to_d(x, sigmas[i], denoised) * (sigma_down - sigmas[i])
        if sigmas[i + 1] > 0:
            x = x + noise(sigmas[i], sigmas[i + 1]) * options.s_noise * sigma_up
    return x


@torch.no_grad()
def heun(
    model: Model,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseFn | None = None,
    options: SamplerOptions = DEFAULT_OPTIONS,
) -> torch.Tensor:
    """Heun's second-order method (Karras Alg. 2); plain Euler for the step to sigma 0."""
    extra_args = extra_args or {}
    noise = default_noise(x, noise_sampler)
    for i in range(len(sigmas) - 1):
        x, sigma_hat = _churn(x, sigmas, i, noise, options)
        denoised = model(x, batch_sigma(x, sigma_hat), **extra_args)
        d = to_d(x, sigma_hat, denoised)
        report(callback, i, x, sigmas[i], sigma_hat, denoised)
        dt = sigmas[i + 1] - sigma_hat
        if is_zero(sigmas[i + 1]):
            x = x + d * dt
            continue
        x_2 = x + d * dt
        denoised_2 = model(x_2, batch_sigma(x, sigmas[i + 1]), **extra_args)
        d_2 = to_d(x_2, sigmas[i + 1], denoised_2)
        x = x + (d + d_2) / 2 * dt
    return x


def _log_midpoint(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Geometric mean of two sigmas: where DPM2 evaluates its second model call."""
    return a.log().lerp(b.log(), 0.5).exp()


@torch.no_grad()
def dpm_2(
    model: Model,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseFn | None = None,
    options: SamplerOptions = DEFAULT_OPTIONS,
) -> torch.Tensor:
    """DPM-Solver-2 in Karras form: derivative taken at the log-midpoint sigma."""
    extra_args = extra_args or {}
    noise = default_noise(x, noise_sampler)
    for i in range(len(sigmas) - 1):
        x, sigma_hat = _churn(x, sigmas, i, noise, options)
        denoised = model(x, batch_sigma(x, sigma_hat), **extra_args)
        d = to_d(x, sigma_hat, denoised)
        report(callback, i, x, sigmas[i], sigma_hat, denoised)
        if is_zero(sigmas[i + 1]):
            x = x + d * (sigmas[i + 1] - sigma_hat)
            continue
        sigma_mid = _log_midpoint(sigma_hat, sigmas[i + 1])
        x_2 = x + d * (sigma_mid - sigma_hat)
        denoised_2 = model(x_2, batch_sigma(x, sigma_mid), **extra_args)
        x = x + to_d(x_2, sigma_mid, denoised_2) * (sigmas[i + 1] - sigma_hat)
    return x


@torch.no_grad()
def dpm_2_ancestral(
    model: Model,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseFn | None = None,
    options: SamplerOptions = DEFAULT_OPTIONS,
) -> torch.Tensor:
    """DPM2 down to sigma_down, then fresh noise.

    As in k-diffusion, noise is drawn and added only after a second-order step: when sigma_down
    is 0 (the last step, or earlier with eta > 1) the step is plain Euler to 0 with no noise.
    """
    extra_args = extra_args or {}
    noise = default_noise(x, noise_sampler)
    for i in range(len(sigmas) - 1):
        denoised = model(x, batch_sigma(x, sigmas[i]), **extra_args)
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], options.eta)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        d = to_d(x, sigmas[i], denoised)
        if is_zero(sigma_down):
            x = x + d * (sigma_down - sigmas[i])
        else:
            sigma_mid = _log_midpoint(sigmas[i], sigma_down)
            x_2 = x + d * (sigma_mid - sigmas[i])
            denoised_2 = model(x_2, batch_sigma(x, sigma_mid), **extra_args)
            x = x + to_d(x_2, sigma_mid, denoised_2) * (sigma_down - sigmas[i])
            x = x + noise(sigmas[i], sigmas[i + 1]) * options.s_noise * sigma_up
    return x


def linear_multistep_coeff(order: int, t: Any, i: int, j: int) -> float:
    """Integral over [t_i, t_{i+1}] of the j-th Lagrange basis polynomial through t_i..t_{i-order+1}."""
    if order - 1 > i:
        raise ValueError(f"LMS order {order} needs {order - 1} previous steps, only {i} exist at step {i}")

    def basis(tau: float) -> float:
        prod = 1.0
        for k in range(order):
            if j != k:
                prod *= (tau - t[i - k]) / (t[i - j] - t[i - k])
        return prod

    return integrate.quad(basis, t[i], t[i + 1], epsrel=1e-4)[0]


@torch.no_grad()
def lms(
    model: Model,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseFn | None = None,
    options: SamplerOptions = DEFAULT_OPTIONS,
    order: int = 4,
) -> torch.Tensor:
    """Linear multistep (Adams-Bashforth in sigma) using up to `order` past derivatives."""
    extra_args = extra_args or {}
    sigmas_cpu = sigmas.detach().cpu().numpy()
    ds: list[torch.Tensor] = []
    for i in range(len(sigmas) - 1):
        denoised = model(x, batch_sigma(x, sigmas[i]), **extra_args)
        ds.append(to_d(x, sigmas[i], denoised))
        if len(ds) > order:
            ds.pop(0)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        cur_order = min(i + 1, order)
        coeffs = [linear_multistep_coeff(cur_order, sigmas_cpu, i, j) for j in range(cur_order)]
        x = x + sum(coeff * d for coeff, d in zip(coeffs, reversed(ds), strict=True))
    return x
