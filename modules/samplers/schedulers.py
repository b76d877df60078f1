"""Schedule types: how `steps` sigmas are spread between sigma_max and sigma_min.

A1111's "Schedule type" dropdown (names, labels, aliases, default rho) with each formula
written from its source paper or A1111's described behaviour. Every function takes a
`ScheduleContext` and returns n+1 float32 sigmas (descending, normally ending in 0; "KL
Optimal" ends at sigma_min, as in A1111). The functions that need the model's own timestep
table ("need_inner_model") read it from `ctx.schedule`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from modules.samplers.discretization import DiscreteSchedule, append_zero

AYS_SD15 = (14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029)
AYS_SDXL = (14.615, 6.315, 3.771, 2.181, 1.342, 0.862, 0.555, 0.380, 0.234, 0.113, 0.029)


@dataclass(frozen=True)
class ScheduleContext:
    """Inputs of a schedule function (after settings overrides of sigma_min/max/rho)."""

    n: int
    sigma_min: float
    sigma_max: float
    schedule: DiscreteSchedule
    rho: float | None = None
    is_sdxl: bool = False
    beta_alpha: float = 0.6
    beta_beta: float = 0.6


ScheduleFn = Callable[[ScheduleContext], torch.Tensor]


@dataclass(frozen=True)
class SchedulerSpec:
    """One entry of the Schedule type list; `fn` is None for "Automatic"."""

    name: str
    label: str
    aliases: tuple[str, ...]
    default_rho: float
    need_inner_model: bool
    fn: ScheduleFn | None

    def api_dict(self) -> dict[str, object]:
        """The shape of one item of GET /sdapi/v1/schedulers."""
        return {
            "name": self.name,
            "label": self.label,
            "aliases": list(self.aliases) or None,
            "default_rho": self.default_rho,
            "need_inner_model": self.need_inner_model,
        }


def karras_sigmas(n: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    """Karras et al. 2022 eq. 5: uniform in sigma^(1/rho)."""
    ramp = torch.linspace(0, 1, n)
    min_inv_rho, max_inv_rho = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return append_zero((max_inv_rho + ramp * (min_inv_rho - max_inv_rho)) ** rho)


def _karras(ctx: ScheduleContext) -> torch.Tensor:
    return karras_sigmas(ctx.n, ctx.sigma_min, ctx.sigma_max, 7.0 if ctx.rho is None else ctx.rho)


def _exponential(ctx: ScheduleContext) -> torch.Tensor:
    """Uniform in log sigma."""
    return append_zero(torch.linspace(math.log(ctx.sigma_max), math.log(ctx.sigma_min), ctx.n).exp())


def _polyexponential(ctx: ScheduleContext) -> torch.Tensor:
    """Log sigma following a power ramp; rho 1 equals exponential."""
    rho = 1.0 if ctx.rho is None else ctx.rho
    ramp = torch.linspace(1, 0, ctx.n) ** rho
    log_min = math.log(ctx.sigma_min)
    return append_zero(torch.exp(ramp * (math.log(ctx.sigma_max) - log_min) + log_min))


def _uniform(ctx: ScheduleContext) -> torch.Tensor:
    """The model's own schedule (timesteps uniform from T-1 to 0)."""
    return ctx.schedule.get_sigmas(ctx.n)


def _timesteps_to_sigmas(ctx: ScheduleContext, timesteps: torch.Tensor) -> torch.Tensor:
    sigmas = [float(ctx.schedule.t_to_sigma(ts)) for ts in timesteps]
    return torch.tensor(sigmas + [0.0], dtype=torch.float32)


def _t_range(ctx: ScheduleContext) -> tuple[float, float]:
    start = float(ctx.schedule.sigma_to_t(torch.tensor(ctx.sigma_max)))
    end = float(ctx.schedule.sigma_to_t(torch.tensor(ctx.sigma_min)))
    return start, end


def _sgm_uniform(ctx: ScheduleContext) -> torch.Tensor:
    """Timesteps uniform from t(sigma_max) towards t(sigma_min), the last one left out (SGM)."""
    start, end = _t_range(ctx)
    return _timesteps_to_sigmas(ctx, torch.linspace(start, end, ctx.n + 1)[:-1])


def _normal(ctx: ScheduleContext) -> torch.Tensor:
    """Timesteps uniform from t(sigma_max) to t(sigma_min) inclusive."""
    start, end = _t_range(ctx)
    return _timesteps_to_sigmas(ctx, torch.linspace(start, end, ctx.n))


def _simple(ctx: ScheduleContext) -> torch.Tensor:
    """Every len/n-th training sigma from the top (ComfyUI's "simple")."""
    table = ctx.schedule.sigmas
    stride = len(table) / ctx.n
    sigmas = [float(table[-(1 + int(x * stride))]) for x in range(ctx.n)]
    return torch.tensor(sigmas + [0.0], dtype=torch.float32)


def _ddim(ctx: ScheduleContext) -> torch.Tensor:
    """Training sigmas at timesteps 1, 1+k, 1+2k, ... (k = len // n), descending."""
    table = ctx.schedule.sigmas
    stride = max(len(table) // ctx.n, 1)
    sigmas = [float(table[x]) for x in range(1, len(table), stride)]
    return torch.tensor(sigmas[::-1] + [0.0], dtype=torch.float32)


def _kl_optimal(ctx: ScheduleContext) -> torch.Tensor:
    """Uniform in arctan(sigma) (Sabour et al. 2024); ends at sigma_min, not 0, as A1111."""
    alpha_min = torch.arctan(torch.tensor(ctx.sigma_min))
    alpha_max = torch.arctan(torch.tensor(ctx.sigma_max))
    step = torch.arange(ctx.n + 1) / ctx.n
    return torch.tan(step * alpha_min + (1.0 - step) * alpha_max)


def loglinear_interp(t_steps: np.ndarray, num_steps: int) -> np.ndarray:
    """Resample a decreasing list to num_steps points, linearly in log space."""
    xs = np.linspace(0, 1, len(t_steps))
    ys = np.log(t_steps[::-1])
    new_ys = np.interp(np.linspace(0, 1, num_steps), xs, ys)
    return np.exp(new_ys)[::-1].copy()


def _align_your_steps(ctx: ScheduleContext) -> torch.Tensor:
    """NVIDIA's published 10-step schedules, resampled log-linearly for other step counts."""
    base = np.array(AYS_SDXL if ctx.is_sdxl else AYS_SD15)
    sigmas = base if ctx.n == len(base) else loglinear_interp(base, ctx.n)
    return torch.tensor(np.append(sigmas, [0.0]), dtype=torch.float32)


def _beta(ctx: ScheduleContext) -> torch.Tensor:
    """Beta-distribution quantiles (Lee et al. 2024), as A1111 v1.10 applies them in sigma space."""
    from scipy import stats

    quantiles = [stats.beta.ppf(x, ctx.beta_alpha, ctx.beta_beta) for x in 1 - np.linspace(0, 1, ctx.n)]
    sigmas = [ctx.sigma_min + q * (ctx.sigma_max - ctx.sigma_min) for q in quantiles]
    return torch.tensor(sigmas + [0.0], dtype=torch.float32)


SCHEDULERS: tuple[SchedulerSpec, ...] = (
    SchedulerSpec("automatic", "Automatic", (), -1, False, None),
    SchedulerSpec("uniform", "Uniform", (), -1, True, _uniform),
    SchedulerSpec("karras", "Karras", (), 7.0, False, _karras),
    SchedulerSpec("exponential", "Exponential", (), -1, False, _exponential),
    SchedulerSpec("polyexponential", "Polyexponential", (), 1.0, False, _polyexponential),
    SchedulerSpec("sgm_uniform", "SGM Uniform", ("SGMUniform",), -1, True, _sgm_uniform),
    SchedulerSpec("kl_optimal", "KL Optimal", (), -1, False, _kl_optimal),
    SchedulerSpec("align_your_steps", "Align Your Steps", (), -1, False, _align_your_steps),
    SchedulerSpec("simple", "Simple", (), -1, True, _simple),
    SchedulerSpec("normal", "Normal", (), -1, True, _normal),
    SchedulerSpec("ddim", "DDIM", (), -1, True, _ddim),
    SchedulerSpec("beta", "Beta", (), -1, True, _beta),
)
