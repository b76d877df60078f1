"""The DPM-Solver++ family: 2S a, SDE, 2M, 2M SDE (midpoint/heun), 3M SDE.

Written from Lu et al. 2022 ("DPM-Solver++", data-prediction form) in the half-log-SNR
variable t = -log(sigma), as k-diffusion and A1111 run them. The SDE variants add noise of
variance sigma_next^2 * (1 - exp(-2 eta h)) each step; A1111 feeds them a Brownian-tree noise
sampler seeded per image so a batch gives the same pictures as single images.
"""

from __future__ import annotations

from typing import Any

import torch

from modules.samplers.kdiffusion import DEFAULT_OPTIONS, Model, NoiseFn, default_noise
from modules.samplers.options import SamplerOptions
from modules.samplers.sampling_math import Callback, ancestral_step, batch_sigma, is_zero, report, to_d


def _t(sigma: torch.Tensor) -> torch.Tensor:
    return sigma.log().neg()


def _sigma(t: torch.Tensor) -> torch.Tensor:
    return t.neg().exp()


@torch.no_grad()
def dpmpp_2s_ancestral(
    model: Model,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseFn | None = None,
    options: SamplerOptions = DEFAULT_OPTIONS,
) -> torch.Tensor:
    """Single-step DPM-Solver++(2S) to sigma_down, then ancestral noise."""
    extra_args = extra_args or {}
    noise = default_noise(x, noise_sampler)
    for i in range(len(sigmas) - 1):
        denoised = model(x, batch_sigma(x, sigmas[i]), **extra_args)
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], options.eta)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        if is_zero(sigma_down):
            x = x + to_d(x, sigmas[i], denoised) * (sigma_down - sigmas[i])
        else:
            t, t_next = _t(sigmas[i]), _t(sigma_down)
            h = t_next - t
            s = t + h / 2
            x_2 = (_sigma(s) / _sigma(t)) * x - (-h / 2).expm1() * denoised
            denoised_2 = model(x_2, batch_sigma(x, _sigma(s)), **extra_args)
            x = (_sigma(t_next) / _sigma(t)) * x - (-h).expm1() * denoised_2
        if sigmas[i + 1] > 0:
            x = x + noise(sigmas[i], sigmas[i + 1]) * options.s_noise * sigma_up
    return x


def _sde_substep(
    x: torch.Tensor, denoised: torch.Tensor, t: torch.Tensor, t_to: torch.Tensor, eta: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic part of an ancestral DPM++ sub-step from t towards t_to; returns (x, sigma_up)."""
    sd, su = ancestral_step(_sigma(t), _sigma(t_to), eta)
    t_down = _t(sd)
    return (_sigma(t_down) / _sigma(t)) * x - (t - t_down).expm1() * denoised, su


@torch.no_grad()
def dpmpp_sde(
    model: Model,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseFn | None = None,
    options: SamplerOptions = DEFAULT_OPTIONS,
    r: float = 1 / 2,
) -> torch.Tensor:
    """DPM-Solver++ (stochastic, 2 model calls per step); needs the Brownian noise sampler."""
    extra_args = extra_args or {}
    noise = default_noise(x, noise_sampler)
    eta, s_noise = options.eta, options.s_noise
    for i in range(len(sigmas) - 1):
        denoised = model(x, batch_sigma(x, sigmas[i]), **extra_args)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        if is_zero(sigmas[i + 1]):
            x = x + to_d(x, sigmas[i], denoised) * (sigmas[i + 1] - sigmas[i])
            continue
        t, t_next = _t(sigmas[i]), _t(sigmas[i + 1])
        s = t + (t_next - t) * r
        fac = 1 / (2 * r)
        x_2, su = _sde_substep(x, denoised, t, s, eta)
        x_2 = x_2 + noise(_sigma(t), _sigma(s)) * s_noise * su
        denoised_2 = model(x_2, batch_sigma(x, _sigma(s)), **extra_args)
        denoised_d = (1 - fac) * denoised + fac * denoised_2
        x, su = _sde_substep(x, denoised_d, t, t_next, eta)
        x = x + noise(_sigma(t), _sigma(t_next)) * s_noise * su
    return x


@torch.no_grad()
def dpmpp_2m(
    model: Model,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseFn | None = None,
    options: SamplerOptions = DEFAULT_OPTIONS,
) -> torch.Tensor:
    """Multistep DPM-Solver++(2M); first order on the first step and on the step to sigma 0."""
    extra_args = extra_args or {}
    old_denoised = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, batch_sigma(x, sigmas[i]), **extra_args)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        t, t_next = _t(sigmas[i]), _t(sigmas[i + 1])
        h = t_next - t
        if old_denoised is None or is_zero(sigmas[i + 1]):
            x = (_sigma(t_next) / _sigma(t)) * x - (-h).expm1() * denoised
        else:
            r = (t - _t(sigmas[i - 1])) / h
            denoised_d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
            x = (_sigma(t_next) / _sigma(t)) * x - (-h).expm1() * denoised_d
        old_denoised = denoised
    return x


@torch.no_grad()
def dpmpp_2m_sde(
    model: Model,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseFn | None = None,
    options: SamplerOptions = DEFAULT_OPTIONS,
) -> torch.Tensor:
    """Multistep DPM-Solver++(2M) SDE; `options.solver_type` is "midpoint" or "heun"."""
    extra_args = extra_args or {}
    noise = default_noise(x, noise_sampler)
    eta, heun_solver = options.eta, options.solver_type == "heun"
    old_denoised, h_last = None, None
    for i in range(len(sigmas) - 1):
        denoised = model(x, batch_sigma(x, sigmas[i]), **extra_args)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        h = None
        if is_zero(sigmas[i + 1]):
            x = denoised
        else:
            h = _t(sigmas[i + 1]) - _t(sigmas[i])
            eta_h = eta * h
            x = sigmas[i + 1] / sigmas[i] * (-eta_h).exp() * x + (-h - eta_h).expm1().neg() * denoised
            if old_denoised is not None:
                r = h_last / h
                phi = (-h - eta_h).expm1().neg()
                weight = phi / (-h - eta_h) + 1 if heun_solver else 0.5 * phi
                x = x + weight * (1 / r) * (denoised - old_denoised)
            if eta:
                x = (
                    x
                    + noise(sigmas[i], sigmas[i + 1])
                    * sigmas[i + 1]
                    * (-2 * eta_h).expm1().neg().sqrt()
                    * options.s_noise
                )
        old_denoised, h_last = denoised, h
    return x


@torch.no_grad()
def dpmpp_3m_sde(
    model: Model,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseFn | None = None,
    options: SamplerOptions = DEFAULT_OPTIONS,
) -> torch.Tensor:
    """Multistep DPM-Solver++(3M) SDE: third order once two past steps exist."""
    extra_args = extra_args or {}
    noise = default_noise(x, noise_sampler)
    eta = options.eta
    denoised_1 = denoised_2 = None
    h_1 = h_2 = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, batch_sigma(x, sigmas[i]), **extra_args)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        h = None
        if is_zero(sigmas[i + 1]):
            x = denoised
        else:
            h = _t(sigmas[i + 1]) - _t(sigmas[i])
            h_eta = h * (eta + 1)
            x = torch.exp(-h_eta) * x + (-h_eta).expm1().neg() * denoised
            x = _three_m_correction(x, denoised, denoised_1, denoised_2, h, h_1, h_2, h_eta)
            if eta:
                x = (
                    x
                    + noise(sigmas[i], sigmas[i + 1])
                    * sigmas[i + 1]
                    * (-2 * h * eta).expm1().neg().sqrt()
                    * options.s_noise
                )
        denoised_1, denoised_2 = denoised, denoised_1
        h_1, h_2 = h, h_1
    return x


def _three_m_correction(
    x: torch.Tensor,
    denoised: torch.Tensor,
    denoised_1: torch.Tensor | None,
    denoised_2: torch.Tensor | None,
    h: torch.Tensor,
    h_1: torch.Tensor | None,
    h_2: torch.Tensor | None,
    h_eta: torch.Tensor,
) -> torch.Tensor:
    """Add the higher-order terms of the 3M step from the previous one or two denoised values.

    The terms are added one by one in k-diffusion's order so that rounding matches it bit for bit.
    """
    phi_2 = h_eta.neg().expm1() / h_eta + 1
    if h_2 is not None and denoised_1 is not None and denoised_2 is not None:
        r0, r1 = h_1 / h, h_2 / h
        d1_0 = (denoised - denoised_1) / r0
        d1_1 = (denoised_1 - denoised_2) / r1
        d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
        d2 = (d1_0 - d1_1) / (r0 + r1)
        phi_3 = phi_2 / h_eta - 0.5
        return x + phi_2 * d1 - phi_3 * d2
    if h_1 is not None and denoised_1 is not None:
        return x + phi_2 * ((denoised - denoised_1) / (h_1 / h))
    return x
