"""DPM-Solver (Lu et al. 2022, noise-prediction form): "DPM fast" and "DPM adaptive".

These two do not follow a sigma list: "DPM fast" spreads its model calls over steps of
orders 3/2/1 uniformly in t = -log(sigma), and "DPM adaptive" picks its own step sizes with
a PID controller until the error estimate is met, so it ignores the step count.

Which sigma range they integrate over follows A1111 (`_sigma_range`): in txt2img the model's
own sigma_min/sigma_max and n = steps, whatever the schedule type (only the start latent's
scale comes from the schedule); in img2img and the hires pass (`options.img2img`) the sliced
schedule's first and last non-zero sigma and n = len(sigmas) - 1.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from modules.samplers.kdiffusion import DEFAULT_OPTIONS, Model, NoiseFn, default_noise
from modules.samplers.options import SamplerOptions
from modules.samplers.sampling_math import Callback, ancestral_step, report

EpsCache = dict[str, torch.Tensor]


class _Solver:
    """Single-step DPM-Solver-1/2/3 updates, caching model calls within one step."""

    def __init__(self, model: Model, extra_args: dict[str, Any]) -> None:
        self.model = model
        self.extra_args = extra_args

    @staticmethod
    def t(sigma: torch.Tensor) -> torch.Tensor:
        return -sigma.log()

    @staticmethod
    def sigma(t: torch.Tensor) -> torch.Tensor:
        return t.neg().exp()

    def eps(self, cache: EpsCache, key: str, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if key not in cache:
            sigma = self.sigma(t) * x.new_ones([x.shape[0]])
            cache[key] = (x - self.model(x, sigma, **self.extra_args)) / self.sigma(t)
        return cache[key]

    def step_1(self, x: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor, cache: EpsCache) -> torch.Tensor:
        eps = self.eps(cache, "eps", x, t)
        return x - self.sigma(t_next) * (t_next - t).expm1() * eps

    def step_2(
        self, x: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor, cache: EpsCache, r1: float = 1 / 2
    ) -> torch.Tensor:
        h = t_next - t
        eps = self.eps(cache, "eps", x, t)
        s1 = t + r1 * h
        u1 = x - self.sigma(s1) * (r1 * h).expm1() * eps
        eps_r1 = self.eps(cache, "eps_r1", u1, s1)
        return (
            x
            - self.sigma(t_next) * h.expm1() * eps
            - self.sigma(t_next) / (2 * r1) * h.expm1() * (eps_r1 - eps)
        )

    def step_3(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        t_next: torch.Tensor,
        cache: EpsCache,
        r1: float = 1 / 3,
        r2: float = 2 / 3,
    ) -> torch.Tensor:
        h = t_next - t
        eps = self.eps(cache, "eps", x, t)
        s1, s2 = t + r1 * h, t + r2 * h
        u1 = x - self.sigma(s1) * (r1 * h).expm1() * eps
        eps_r1 = self.eps(cache, "eps_r1", u1, s1)
        u2 = (
            x
            - self.sigma(s2) * (r2 * h).expm1() * eps
            - self.sigma(s2) * (r2 / r1) * ((r2 * h).expm1() / (r2 * h) - 1) * (eps_r1 - eps)
        )
        eps_r2 = self.eps(cache, "eps_r2", u2, s2)
        return (
            x
            - self.sigma(t_next) * h.expm1() * eps
            - self.sigma(t_next) / r2 * (h.expm1() / h - 1) * (eps_r2 - eps)
        )

    def step(
        self, order: int, x: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor, cache: EpsCache
    ) -> torch.Tensor:
        return (self.step_1, self.step_2, self.step_3)[order - 1](x, t, t_next, cache)

    def ancestral_target(
        self, t: torch.Tensor, t_next: torch.Tensor, t_end: torch.Tensor, eta: float
    ) -> tuple[torch.Tensor, torch.Tensor | float]:
        """Where the deterministic part of a step ends and how much noise to add back."""
        if not eta:
            return t_next, 0.0
        sd, _ = ancestral_step(self.sigma(t), self.sigma(t_next), eta)
        t_down = torch.minimum(t_end, self.t(sd))
        return t_down, (self.sigma(t_next) ** 2 - self.sigma(t_down) ** 2) ** 0.5


def _sigma_range(sigmas: torch.Tensor, options: SamplerOptions) -> tuple[torch.Tensor, torch.Tensor]:
    """(sigma_min, sigma_max) to integrate over: the model's in txt2img, the schedule's in img2img."""
    if not options.img2img and options.schedule is not None:
        return options.schedule.sigma_min.float().cpu(), options.schedule.sigma_max.float().cpu()
    positive = sigmas[sigmas > 0]
    if positive.numel() < 1:
        raise ValueError("DPM fast/adaptive need at least one sigma above 0")
    sigma_min, sigma_max = positive[-1], sigmas[0]
    if not float(sigma_max) > float(sigma_min):
        raise ValueError(
            f"DPM fast/adaptive need sigma_max > sigma_min, got {float(sigma_max)} and {float(sigma_min)}"
        )
    return sigma_min.float().cpu(), sigma_max.float().cpu()


def fast_orders(nfe: int) -> list[int]:
    """Orders of the DPM-Solver-fast steps for a budget of `nfe` model calls."""
    m = math.floor(nfe / 3) + 1
    if nfe % 3 == 0:
        return [3] * (m - 2) + [2, 1]
    return [3] * (m - 1) + [nfe % 3]


@torch.no_grad()
def dpm_fast(
    model: Model,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseFn | None = None,
    options: SamplerOptions = DEFAULT_OPTIONS,
) -> torch.Tensor:
    """DPM-Solver-fast with len(sigmas) - 1 (= steps) model calls over `_sigma_range`."""
    solver = _Solver(model, extra_args or {})
    noise = default_noise(x, noise_sampler)
    sigma_min, sigma_max = _sigma_range(sigmas, options)
    t_start, t_end = solver.t(sigma_max), solver.t(sigma_min)
    orders = fast_orders(len(sigmas) - 1)
    ts = torch.linspace(float(t_start), float(t_end), len(orders) + 1)
    for i, order in enumerate(orders):
        cache: EpsCache = {}
        t, t_next = ts[i], ts[i + 1]
        t_down, su = solver.ancestral_target(t, t_next, t_end, options.eta)
        eps = solver.eps(cache, "eps", x, t)
        report(callback, i, x, solver.sigma(t), solver.sigma(t), x - solver.sigma(t) * eps)
        x = solver.step(order, x, t, t_down, cache)
        x = x + su * options.s_noise * noise(solver.sigma(t), solver.sigma(t_next))
    return x


class PIDStepSizeController:
    """Step-size control for DPM adaptive (an I controller with the default coefficients)."""

    def __init__(
        self,
        h: float,
        pcoeff: float,
        icoeff: float,
        dcoeff: float,
        order: float = 1,
        accept_safety: float = 0.8,
        eps: float = 1e-8,
    ) -> None:
        self.h = h
        self.b1 = (pcoeff + icoeff + dcoeff) / order
        self.b2 = -(pcoeff + 2 * dcoeff) / order
        self.b3 = dcoeff / order
        self.accept_safety = accept_safety
        self.eps = eps
        self.errs: list[float] = []

    def propose_step(self, error: torch.Tensor | float) -> bool:
        inv_error = 1 / (float(error) + self.eps)
        if not self.errs:
            self.errs = [inv_error, inv_error, inv_error]
        self.errs[0] = inv_error
        factor = self.errs[0] ** self.b1 * self.errs[1] ** self.b2 * self.errs[2] ** self.b3
        factor = 1 + math.atan(factor - 1)
        accept = factor >= self.accept_safety
        if accept:
            self.errs[2] = self.errs[1]
            self.errs[1] = self.errs[0]
        self.h *= factor
        return accept


@torch.no_grad()
def dpm_adaptive(
    model: Model,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseFn | None = None,
    options: SamplerOptions = DEFAULT_OPTIONS,
    order: int = 3,
    rtol: float = 0.05,
    atol: float = 0.0078,
    h_init: float = 0.05,
    accept_safety: float = 0.81,
) -> torch.Tensor:
    """Adaptive-step DPM-Solver-3/2 (embedded pair) over `_sigma_range`; the step count is ignored."""
    if order not in (2, 3):
        raise ValueError(f"DPM adaptive order must be 2 or 3, got {order}")
    solver = _Solver(model, extra_args or {})
    noise = default_noise(x, noise_sampler)
    sigma_min, sigma_max = _sigma_range(sigmas, options)
    t_end = solver.t(sigma_min)
    s = solver.t(sigma_max)
    pid = PIDStepSizeController(h_init, 0.0, 1.0, 0.0, 1.5 if options.eta else order, accept_safety)
    atol_t, rtol_t = torch.tensor(atol), torch.tensor(rtol)
    x_prev, steps = x, 0
    while s < t_end - 1e-5:
        cache: EpsCache = {}
        t = torch.minimum(t_end, s + pid.h)
        t_down, su = solver.ancestral_target(s, t, t_end, options.eta)
        eps = solver.eps(cache, "eps", x, s)
        denoised = x - solver.sigma(s) * eps
        if order == 2:
            x_low, x_high = solver.step_1(x, s, t_down, cache), solver.step_2(x, s, t_down, cache)
        else:
            x_low, x_high = solver.step_2(x, s, t_down, cache, r1=1 / 3), solver.step_3(x, s, t_down, cache)
        delta = torch.maximum(atol_t, rtol_t * torch.maximum(x_low.abs(), x_prev.abs()))
        error = torch.linalg.norm((x_low - x_high) / delta) / x.numel() ** 0.5
        if pid.propose_step(error):
            x_prev = x_low
            x = x_high + su * options.s_noise * noise(solver.sigma(s), solver.sigma(t))
            s = t
        steps += 1
        report(callback, steps - 1, x, solver.sigma(s), solver.sigma(s), denoised)
    return x
