"""UniPC (Zhao et al. 2023), multistep predictor-corrector in data-prediction form, as A1111 runs it.

A1111 runs UniPC on the continuous-time view of the discrete model (t in [1/N, 1], log-alpha
interpolated linearly between training timesteps) with its own time grid: `steps` steps
from t=1 (or, for img2img, just above the first timestep) down to t=1/N, spaced by the
settings `uni_pc_skip_type`, `uni_pc_order`, `uni_pc_variant` (bh1/bh2/vary_coeff) and
`uni_pc_lower_order_final`. Only len(sigmas) is taken from the sigma list (A1111 passes
its timestep list and uses its length), plus sigmas[0] to read the incoming latent.

The model is reached through the k-diffusion denoiser at sigma = t_to_sigma(t_input),
with the latent rescaled so the UNet sees exactly A1111's VP input and timestep; the result
is the VP latent at t=1/N, what A1111 decodes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from modules.samplers.discretization import DiscreteSchedule
from modules.samplers.kdiffusion import DEFAULT_OPTIONS, Model, NoiseFn
from modules.samplers.options import SamplerOptions
from modules.samplers.sampling_math import Callback, batch_sigma, report
from modules.samplers.timestep import alpha_of


class VPTime:
    """NoiseScheduleVP('discrete'): alpha/sigma/lambda at continuous t from alphas_cumprod."""

    def __init__(self, alphas_cumprod: torch.Tensor) -> None:
        self.log_alphas = 0.5 * np.log(alphas_cumprod.double().cpu().numpy())
        self.total_n = len(self.log_alphas)
        self.t_array = np.linspace(0.0, 1.0, self.total_n + 1)[1:]

    def log_alpha(self, t: float) -> float:
        return float(np.interp(t, self.t_array, self.log_alphas))

    def alpha(self, t: float) -> float:
        return math.exp(self.log_alpha(t))

    def sigma(self, t: float) -> float:
        return math.sqrt(1.0 - math.exp(2.0 * self.log_alpha(t)))

    def lam(self, t: float) -> float:
        log_alpha = self.log_alpha(t)
        return log_alpha - 0.5 * math.log(1.0 - math.exp(2.0 * log_alpha))

    def inverse_lambda(self, lam: float) -> float:
        log_alpha = -0.5 * np.logaddexp(0.0, -2.0 * lam)
        return float(np.interp(log_alpha, self.log_alphas[::-1], self.t_array[::-1]))

    def model_time(self, t: float) -> float:
        """The UNet timestep for continuous t (0 .. 999 for N = 1000)."""
        return (t - 1.0 / self.total_n) * 1000.0


def time_steps(vp: VPTime, skip_type: str, t_T: float, t_0: float, n: int) -> list[float]:
    """The continuous times UniPC visits: n steps from t_T to t_0."""
    if skip_type == "logSNR":
        lams = np.linspace(vp.lam(t_T), vp.lam(t_0), n + 1)
        return [vp.inverse_lambda(lam) for lam in lams]
    if skip_type == "time_quadratic":
        return list(np.linspace(t_T**0.5, t_0**0.5, n + 1) ** 2)
    return list(np.linspace(t_T, t_0, n + 1))


class _DataModel:
    """x0 prediction at continuous t through the sampler-contract denoiser."""

    def __init__(
        self, model: Model, schedule: DiscreteSchedule, vp: VPTime, extra_args: dict[str, Any]
    ) -> None:
        self.model, self.schedule, self.vp, self.extra_args = model, schedule, vp, extra_args

    def __call__(self, x_vp: torch.Tensor, t: float) -> torch.Tensor:
        sigma_k = self.schedule.t_to_sigma(torch.tensor(self.vp.model_time(t), dtype=torch.float32))
        x_k = x_vp / alpha_of(sigma_k) ** 0.5
        denoised = self.model(x_k, batch_sigma(x_k, sigma_k), **self.extra_args)
        eps = (x_k - denoised) / sigma_k
        return (x_vp - self.vp.sigma(t) * eps) / self.vp.alpha(t)


def _weighted(coeffs: Any, tensors: list[torch.Tensor]) -> torch.Tensor | float:
    if not tensors:
        return 0.0
    return sum(float(c) * d for c, d in zip(coeffs, tensors, strict=True))


def _bh_coefficients(
    rks: np.ndarray, hh: float, order: int, variant: str
) -> tuple[float, np.ndarray, np.ndarray]:
    h_phi_k = math.expm1(hh) / hh - 1
    b_h = hh if variant == "bh1" else math.expm1(hh)
    rows, b, factorial_i = [], [], 1
    for i in range(1, order + 1):
        rows.append(rks ** (i - 1))
        b.append(h_phi_k * factorial_i / b_h)
        factorial_i *= i + 1
        h_phi_k = h_phi_k / hh - 1 / factorial_i
    return b_h, np.stack(rows), np.array(b)


class _UniPC:
    def __init__(self, data_model: _DataModel, vp: VPTime, variant: str) -> None:
        self.model_fn, self.vp, self.variant = data_model, vp, variant

    def _history(
        self, model_prev: list[torch.Tensor], t_prev: list[float], t: float, order: int
    ) -> tuple[float, np.ndarray, list[torch.Tensor]]:
        lam_prev_0 = self.vp.lam(t_prev[-1])
        h = self.vp.lam(t) - lam_prev_0
        rks, d1s = [], []
        for i in range(1, order):
            rk = (self.vp.lam(t_prev[-(i + 1)]) - lam_prev_0) / h
            rks.append(rk)
            d1s.append((model_prev[-(i + 1)] - model_prev[-1]) / rk)
        return h, np.array(rks + [1.0]), d1s

    def update(
        self,
        x: torch.Tensor,
        model_prev: list[torch.Tensor],
        t_prev: list[float],
        t: float,
        order: int,
        use_corrector: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        h, rks, d1s = self._history(model_prev, t_prev, t, order)
        alpha_t = self.vp.alpha(t)
        x_t_ = (self.vp.sigma(t) / self.vp.sigma(t_prev[-1])) * x - alpha_t * math.expm1(-h) * model_prev[-1]
        if self.variant == "vary_coeff":
            return self._vary_update(x_t_, model_prev[-1], d1s, rks, -h, alpha_t, t, use_corrector)
        b_h, r, b = _bh_coefficients(rks, -h, order, self.variant)
        x_t = x_t_
        if d1s:
            rhos_p = np.array([0.5]) if order == 2 else np.linalg.solve(r[:-1, :-1], b[:-1])
            x_t = x_t_ - alpha_t * b_h * _weighted(rhos_p, d1s)
        if not use_corrector:
            return x_t, None
        rhos_c = np.array([0.5]) if order == 1 else np.linalg.solve(r, b)
        model_t = self.model_fn(x_t, t)
        corr = _weighted(rhos_c[:-1], d1s) + float(rhos_c[-1]) * (model_t - model_prev[-1])
        return x_t_ - alpha_t * b_h * corr, model_t

    def _vary_update(
        self,
        x_t_: torch.Tensor,
        model_prev_0: torch.Tensor,
        d1s: list[torch.Tensor],
        rks: np.ndarray,
        hh: float,
        alpha_t: float,
        t: float,
        use_corrector: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        k_len = len(rks)
        cols, col = [], np.ones_like(rks)
        for k in range(1, k_len + 1):
            cols.append(col)
            col = col * rks / (k + 1)
        c = np.stack(cols, axis=1)
        h_phi_ks, h_phi_k, factorial_k = [], math.expm1(hh), 1
        for k in range(1, k_len + 2):
            h_phi_ks.append(h_phi_k)
            h_phi_k = h_phi_k / hh - 1 / factorial_k
            factorial_k *= k + 1
        x_t = x_t_
        if d1s:
            a_p = np.linalg.inv(c[:-1, :-1])
            for k in range(k_len - 1):
                x_t = x_t - alpha_t * h_phi_ks[k + 1] * _weighted(a_p[k], d1s)
        if not use_corrector:
            return x_t, None
        a_c = np.linalg.inv(c)
        model_t = self.model_fn(x_t, t)
        x_t, last_k = x_t_, 0
        for last_k in range(k_len - 1):
            x_t = x_t - alpha_t * h_phi_ks[last_k + 1] * _weighted(a_c[last_k][:-1], d1s)
        return x_t - alpha_t * h_phi_ks[k_len] * ((model_t - model_prev_0) * float(a_c[last_k][-1])), model_t


def _start_time(sigmas: torch.Tensor, schedule: DiscreteSchedule, img2img: bool) -> float:
    """t_T: 1.0 for txt2img; just above the first timestep for img2img, as A1111 (quirk kept)."""
    if not img2img:
        return 1.0
    first_timestep = round(float(schedule.sigma_to_t(sigmas[0])))
    return first_timestep / 1000 + 1 / 1000


@torch.no_grad()
def unipc(
    model: Model,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseFn | None = None,
    options: SamplerOptions = DEFAULT_OPTIONS,
) -> torch.Tensor:
    """UniPC multistep with len(sigmas) steps. Order is capped at the step count (A1111 errors instead)."""
    schedule = options.require_schedule("UniPC")
    steps = len(sigmas)
    if steps < 1:
        raise ValueError("UniPC needs at least one step")
    vp = VPTime(schedule.alphas_cumprod)
    data_model = _DataModel(model, schedule, vp, extra_args or {})
    solver = _UniPC(data_model, vp, options.uni_pc_variant)
    order = min(options.uni_pc_order, steps)
    ts = time_steps(
        vp, options.uni_pc_skip_type, _start_time(sigmas, schedule, options.img2img), 1.0 / vp.total_n, steps
    )
    x_vp = x * alpha_of(sigmas[0]) ** 0.5
    return _run(solver, x_vp, ts, steps, order, options.uni_pc_lower_order_final, _reporter(callback, vp))


def _reporter(
    callback: Callback | None, vp: VPTime
) -> Callable[[int, torch.Tensor, torch.Tensor | None, float], None]:
    def after_update(i: int, x: torch.Tensor, model_x: torch.Tensor | None, t: float) -> None:
        sigma = torch.tensor(vp.sigma(t) / vp.alpha(t))
        report(callback, i, x, sigma, sigma, x if model_x is None else model_x)

    return after_update


def _run(
    solver: _UniPC,
    x: torch.Tensor,
    ts: list[float],
    steps: int,
    order: int,
    lower_order_final: bool,
    after_update: Callable[[int, torch.Tensor, torch.Tensor | None, float], None],
) -> torch.Tensor:
    model_prev = [solver.model_fn(x, ts[0])]
    t_prev = [ts[0]]
    for step in range(1, steps + 1):
        step_order = min(step, order)
        if step >= order and lower_order_final:
            step_order = min(order, steps + 1 - step)
        use_corrector = step < order or step != steps
        x, model_x = solver.update(x, model_prev, t_prev, ts[step], step_order, use_corrector)
        after_update(step - 1, x, model_x, ts[step])
        if step < order:
            model_prev.append(model_x if model_x is not None else solver.model_fn(x, ts[step]))
            t_prev.append(ts[step])
            continue
        model_prev, t_prev = model_prev[1:] + model_prev[-1:], t_prev[1:] + [ts[step]]
        if step < steps:
            model_prev[-1] = model_x if model_x is not None else solver.model_fn(x, ts[step])
    return x
