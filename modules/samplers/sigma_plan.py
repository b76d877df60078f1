"""Building the sigma list a sampler runs on, as A1111's `get_sigmas` / `get_timesteps` do.

Why one place: the schedule depends on the sampler (its default schedule type, whether it
discards the penultimate sigma, whether it runs on timesteps), on the chosen schedule type and
on settings (sigma_min/max/rho overrides, always-discard, old Karras range), and the same
decisions decide what the infotext says ("Schedule type", "Schedule rho", ...). Getting both
from one function keeps them from drifting apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch

from modules.samplers.discretization import DiscreteSchedule
from modules.samplers.lcm import as_lcm_schedule
from modules.samplers.schedulers import SCHEDULERS, ScheduleContext, SchedulerSpec
from modules.samplers.spec import SamplerSpec

_BY_NAME = MappingProxyType({s.name: s for s in SCHEDULERS})


@dataclass(frozen=True)
class ScheduleSettings:
    """The settings that shape a schedule (A1111 option keys; 0 means "the model's value")."""

    sigma_min: float = 0.0
    sigma_max: float = 0.0
    rho: float = 0.0
    always_discard_next_to_last_sigma: bool = False
    use_old_karras_scheduler_sigmas: bool = False
    beta_dist_alpha: float = 0.6
    beta_dist_beta: float = 0.6

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "ScheduleSettings":
        return cls(
            **{k: type(getattr(cls(), k))(settings[k]) for k in cls.__dataclass_fields__ if k in settings}
        )


@dataclass(frozen=True)
class BuiltSchedule:
    """Sigmas for a sampler, the "Schedule type" label for infotext, and extra infotext entries."""

    sigmas: torch.Tensor
    schedule_label: str
    extra_params: dict[str, Any] = field(default_factory=dict)


def resolved_schedule_label(spec: SamplerSpec, scheduler: SchedulerSpec) -> str:
    """Infotext "Schedule type": the concrete schedule a k-diffusion sampler used, else as chosen.

    DPM++ 2M + Automatic -> "Karras"; Euler a + Automatic -> "Automatic"; timestep samplers
    ignore the schedule type, so it is written as chosen.
    """
    if spec.kind == "timestep" or scheduler.name != "automatic":
        return scheduler.label
    default = _BY_NAME.get(spec.default_scheduler or "")
    return default.label if default is not None else scheduler.label


def timestep_sigmas(schedule: DiscreteSchedule, steps: int) -> torch.Tensor:
    """Sigmas of A1111's timestep-sampler timesteps: clip(range(0, T, T // steps) + 1, 0, T-1), descending.

    T // steps may not divide T, so there can be more timesteps than steps (A1111 quirk, kept).
    """
    total = schedule.num_timesteps
    if not 1 <= steps <= total:
        raise ValueError(f"Timestep samplers (DDIM, PLMS, UniPC) need 1 to {total} steps, got {steps}")
    timesteps = torch.clip(torch.arange(0, total, total // steps) + 1, 0, total - 1)
    return schedule.sigmas[timesteps].flip(0)


def _discard(spec: SamplerSpec, settings: ScheduleSettings, extra: dict[str, Any]) -> bool:
    if spec.discard_next_to_last_sigma:
        return True
    if settings.always_discard_next_to_last_sigma:
        extra["Discard penultimate sigma"] = True
        return True
    return False


def _concrete_scheduler(spec: SamplerSpec, scheduler: SchedulerSpec) -> SchedulerSpec | None:
    if scheduler.name != "automatic":
        return scheduler
    return _BY_NAME.get(spec.default_scheduler or "")


def _context(
    scheduler: SchedulerSpec,
    n: int,
    inner: DiscreteSchedule,
    settings: ScheduleSettings,
    is_sdxl: bool,
    extra: dict[str, Any],
) -> ScheduleContext:
    """Apply A1111's overrides (only when set and different from the model's/default value)."""
    m_min, m_max = float(inner.sigma_min), float(inner.sigma_max)
    sigma_min, sigma_max = (0.1, 10.0) if settings.use_old_karras_scheduler_sigmas else (m_min, m_max)
    if settings.sigma_min != 0 and settings.sigma_min != m_min:
        sigma_min = settings.sigma_min
        extra["Schedule min sigma"] = settings.sigma_min
    if settings.sigma_max != 0 and settings.sigma_max != m_max:
        sigma_max = settings.sigma_max
        extra["Schedule max sigma"] = settings.sigma_max
    rho = None
    if scheduler.default_rho != -1 and settings.rho != 0 and settings.rho != scheduler.default_rho:
        rho = settings.rho
        extra["Schedule rho"] = settings.rho
    if scheduler.name == "beta":
        extra["Beta schedule alpha"] = settings.beta_dist_alpha
        extra["Beta schedule beta"] = settings.beta_dist_beta
    return ScheduleContext(
        n, sigma_min, sigma_max, inner, rho, is_sdxl, settings.beta_dist_alpha, settings.beta_dist_beta
    )


def build_schedule(
    spec: SamplerSpec,
    scheduler: SchedulerSpec,
    steps: int,
    schedule: DiscreteSchedule,
    settings: ScheduleSettings | None = None,
    *,
    is_sdxl: bool = False,
) -> BuiltSchedule:
    """The sigmas `spec` runs on for `steps` steps, with its infotext consequences."""
    settings = settings or ScheduleSettings()
    if steps < 1:
        raise ValueError(f"Steps must be at least 1, got {steps}")
    extra: dict[str, Any] = {}
    n = steps + 1 if _discard(spec, settings, extra) else steps
    label = resolved_schedule_label(spec, scheduler)
    if spec.kind == "timestep":
        return BuiltSchedule(timestep_sigmas(schedule, n), label, extra)
    inner = as_lcm_schedule(schedule) if spec.kind == "lcm" else schedule
    concrete = _concrete_scheduler(spec, scheduler)
    if concrete is None or concrete.fn is None:
        sigmas = inner.get_sigmas(n)
    else:
        sigmas = concrete.fn(_context(concrete, n, inner, settings, is_sdxl, extra)).to(torch.float32)
    if n != steps:
        sigmas = torch.cat([sigmas[:-2], sigmas[-1:]])
    return BuiltSchedule(sigmas, label, extra)


def build_sigmas(
    spec: SamplerSpec,
    scheduler: SchedulerSpec,
    steps: int,
    schedule: DiscreteSchedule,
    settings: ScheduleSettings | None = None,
    *,
    is_sdxl: bool = False,
) -> torch.Tensor:
    """Just the sigmas of `build_schedule`."""
    return build_schedule(spec, scheduler, steps, schedule, settings, is_sdxl=is_sdxl).sigmas
