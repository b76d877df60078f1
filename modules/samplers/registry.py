"""A1111's sampler list as data, and the resolution of sampler / schedule-type names.

Why a registry instance (built by the Runtime) and not a global: extensions may add samplers
for one app instance, and tests build their own. Names resolve as A1111's
`get_sampler_and_scheduler` does ("DPM++ 2M Karras" -> DPM++ 2M + Karras, labels or names
for schedule types, a schedule equal to the sampler's default normalised to Automatic,
aliases like k_euler_a), with one deliberate difference: an unknown name raises
`UnknownSamplerError` listing the valid names instead of silently using DPM++ 2M.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from modules.samplers import dpm_solver, dpmpp, kdiffusion, lcm, restart, timestep, unipc
from modules.samplers.schedulers import SCHEDULERS, SchedulerSpec
from modules.samplers.spec import SamplerFn, SamplerSpec

CHURN_PARAMS = ("s_churn", "s_tmin", "s_tmax", "s_noise")
CFGPP_SCALE = 1 / 12.5


class UnknownSamplerError(ValueError):
    """A sampler or schedule type name that nothing resolves to; the message lists valid names."""

    def __init__(self, message: str, valid: Iterable[str]) -> None:
        super().__init__(message)
        self.valid = list(valid)


def _k(
    name: str,
    aliases: tuple[str, ...],
    fn: SamplerFn,
    scheduler: str | None = None,
    *,
    second_order: bool = False,
    uses_ensd: bool = False,
    brownian: bool = False,
    discard: bool = False,
    takes_eta: bool = False,
    extra_params: tuple[str, ...] = (),
    solver_type: str | None = None,
) -> SamplerSpec:
    """A k-diffusion sampler spec with A1111's options dict derived from the flags."""
    options: dict[str, Any] = {}
    if scheduler:
        options["scheduler"] = scheduler
    flags = (
        ("discard_next_to_last_sigma", discard),
        ("uses_ensd", uses_ensd),
        ("second_order", second_order),
        ("brownian_noise", brownian),
    )
    options.update({key: True for key, on in flags if on})
    if solver_type:
        options["solver_type"] = solver_type
    return SamplerSpec(
        name=name,
        aliases=aliases,
        default_scheduler=scheduler,
        fn=fn,
        options=options,
        second_order=second_order,
        uses_ensd=uses_ensd,
        brownian=brownian,
        discard_next_to_last_sigma=discard,
        kind="kdiffusion",
        takes_eta=takes_eta,
        extra_params=extra_params,
    )


_NOISE_ONLY = ("s_noise",)
DPM_ADAPTIVE_HINT = (
    "Ignores Sampling steps: it picks its own step sizes until its error estimate is small, so the "
    "number of steps (and the time) depends on the picture, CFG scale and size, often far more than asked"
)
DPM_FAST_HINT = "Spends exactly Sampling steps model calls over the model's whole noise range; low quality"


def default_samplers() -> tuple[SamplerSpec, ...]:
    """A1111 v1.10's 20 samplers in UI order."""
    return (
        _k("DPM++ 2M", ("k_dpmpp_2m",), dpmpp.dpmpp_2m, "karras"),
        _k(
            "DPM++ SDE",
            ("k_dpmpp_sde",),
            dpmpp.dpmpp_sde,
            "karras",
            second_order=True,
            brownian=True,
            takes_eta=True,
            extra_params=_NOISE_ONLY,
        ),
        _k(
            "DPM++ 2M SDE",
            ("k_dpmpp_2m_sde",),
            dpmpp.dpmpp_2m_sde,
            "exponential",
            brownian=True,
            takes_eta=True,
            extra_params=_NOISE_ONLY,
        ),
        _k(
            "DPM++ 2M SDE Heun",
            ("k_dpmpp_2m_sde_heun",),
            dpmpp.dpmpp_2m_sde,
            "exponential",
            brownian=True,
            takes_eta=True,
            extra_params=_NOISE_ONLY,
            solver_type="heun",
        ),
        _k(
            "DPM++ 2S a",
            ("k_dpmpp_2s_a",),
            dpmpp.dpmpp_2s_ancestral,
            "karras",
            uses_ensd=True,
            second_order=True,
            takes_eta=True,
            extra_params=_NOISE_ONLY,
        ),
        _k(
            "DPM++ 3M SDE",
            ("k_dpmpp_3m_sde",),
            dpmpp.dpmpp_3m_sde,
            "exponential",
            discard=True,
            brownian=True,
            takes_eta=True,
            extra_params=_NOISE_ONLY,
        ),
        _k(
            "Euler a",
            ("k_euler_a", "k_euler_ancestral"),
            kdiffusion.euler_ancestral,
            uses_ensd=True,
            takes_eta=True,
        ),
        _k("Euler", ("k_euler",), kdiffusion.euler, extra_params=CHURN_PARAMS),
        _k("LMS", ("k_lms",), kdiffusion.lms),
        _k("Heun", ("k_heun",), kdiffusion.heun, second_order=True, extra_params=CHURN_PARAMS),
        _k(
            "DPM2",
            ("k_dpm_2",),
            kdiffusion.dpm_2,
            "karras",
            discard=True,
            second_order=True,
            extra_params=CHURN_PARAMS,
        ),
        _k(
            "DPM2 a",
            ("k_dpm_2_a",),
            kdiffusion.dpm_2_ancestral,
            "karras",
            discard=True,
            uses_ensd=True,
            second_order=True,
            takes_eta=True,
            extra_params=_NOISE_ONLY,
        ),
        replace(
            _k(
                "DPM fast",
                ("k_dpm_fast",),
                dpm_solver.dpm_fast,
                uses_ensd=True,
                takes_eta=True,
                extra_params=_NOISE_ONLY,
            ),
            description=DPM_FAST_HINT,
        ),
        replace(
            _k("DPM adaptive", ("k_dpm_ad",), dpm_solver.dpm_adaptive, uses_ensd=True, takes_eta=True),
            description=DPM_ADAPTIVE_HINT,
            ignores_steps=True,
        ),
        _k("Restart", ("restart",), restart.restart, "karras", second_order=True),
        SamplerSpec("DDIM", ("ddim",), None, timestep.ddim, kind="timestep", takes_eta=True),
        SamplerSpec(
            "DDIM CFG++",
            ("ddim_cfgpp",),
            None,
            timestep.ddim_cfgpp,
            kind="timestep",
            takes_eta=True,
            cfg_scale_multiplier=CFGPP_SCALE,
            needs_uncond=True,
        ),
        SamplerSpec("PLMS", ("plms",), None, timestep.plms, kind="timestep"),
        SamplerSpec("UniPC", ("unipc",), None, unipc.unipc, kind="timestep"),
        SamplerSpec("LCM", ("k_lcm",), None, lcm.lcm, kind="lcm"),
    )


def _scheduler_keys(spec: SchedulerSpec) -> tuple[str, ...]:
    return (spec.label, spec.name, *spec.aliases)


class SamplerRegistry:
    """The samplers and schedule types one app instance offers, and name resolution over them."""

    def __init__(
        self, samplers: Iterable[SamplerSpec] | None = None, schedulers: Iterable[SchedulerSpec] | None = None
    ) -> None:
        self._samplers: list[SamplerSpec] = list(default_samplers() if samplers is None else samplers)
        self._schedulers: list[SchedulerSpec] = list(SCHEDULERS if schedulers is None else schedulers)
        if not self._samplers or not self._schedulers:
            raise ValueError("A sampler registry needs at least one sampler and one schedule type")
        if self._schedulers[0].name != "automatic":
            raise ValueError("The first schedule type must be 'automatic' (it is the default)")

    def add(self, spec: SamplerSpec) -> None:
        """Add an extension's sampler; a name clash is an error rather than a silent override."""
        if self._find_sampler(spec.name) is not None:
            raise ValueError(f"A sampler named {spec.name!r} is already registered")
        self._samplers.append(spec)

    def add_scheduler(self, spec: SchedulerSpec) -> None:
        """Add an extension's schedule type (after the built-ins); a clash with any existing label,
        name or alias is an error."""
        if spec.fn is None:
            raise ValueError(f"Schedule type {spec.name!r} needs a function that makes the sigmas")
        for key in _scheduler_keys(spec):
            if self._find_scheduler(key) is not None:
                raise ValueError(f"A schedule type named {key!r} is already registered")
        self._schedulers.append(spec)

    def list(self, hidden: Iterable[str] = ()) -> list[SamplerSpec]:
        """Samplers in UI order, without those named in the `hide_samplers` setting."""
        hidden_set = set(hidden)
        return [s for s in self._samplers if s.name not in hidden_set]

    def schedulers(self) -> list[SchedulerSpec]:
        return list(self._schedulers)

    def _find_sampler(self, name: str) -> SamplerSpec | None:
        for spec in self._samplers:
            if name == spec.name or name in spec.aliases:
                return spec
        lowered = name.lower()
        for spec in self._samplers:
            if lowered == spec.name.lower() or lowered in (a.lower() for a in spec.aliases):
                return spec
        return None

    def _find_scheduler(self, name: str) -> SchedulerSpec | None:
        for spec in self._schedulers:
            if name in _scheduler_keys(spec):
                return spec
        lowered = name.lower()
        for spec in self._schedulers:
            if lowered in (k.lower() for k in _scheduler_keys(spec)):
                return spec
        return None

    def get(self, name: str) -> SamplerSpec:
        """A sampler by name or alias (case-insensitive)."""
        spec = self._find_sampler(name)
        if spec is None:
            raise self._unknown_sampler(name)
        return spec

    def get_scheduler(self, name: str | None) -> SchedulerSpec:
        """A schedule type by label, name or alias; None or "" means Automatic."""
        if not name:
            return self._schedulers[0]
        spec = self._find_scheduler(name)
        if spec is None:
            valid = [s.label for s in self._schedulers]
            raise UnknownSamplerError(
                f"Unknown schedule type {name!r}. Valid schedule types: {', '.join(valid)} "
                f"(names such as 'karras' are accepted too)",
                valid,
            )
        return spec

    def _unknown_sampler(self, name: str) -> UnknownSamplerError:
        valid = [s.name for s in self._samplers]
        return UnknownSamplerError(
            f"Unknown sampler {name!r}. Valid samplers: {', '.join(valid)}. Aliases such as 'k_euler_a' "
            "work, and a schedule type may be appended, e.g. 'DPM++ 2M Karras'",
            valid,
        )

    def _split_suffix(self, name: str) -> tuple[SamplerSpec, SchedulerSpec] | None:
        """ "DPM++ 2M Karras" -> (DPM++ 2M, Karras): the pre-1.9 combined names."""
        for scheduler in self._schedulers:
            for key in _scheduler_keys(scheduler):
                if name.lower().endswith(" " + key.lower()):
                    sampler = self._find_sampler(name[: -(len(key) + 1)])
                    if sampler is not None:
                        return sampler, scheduler
        return None

    def resolve(
        self, sampler_name: str | None, scheduler: str | None = None, *, convert_automatic: bool = True
    ) -> tuple[SamplerSpec, SchedulerSpec]:
        """(sampler, schedule type) for UI/API/infotext input, normalised as A1111 does."""
        name = (sampler_name or "").strip() or self._samplers[0].name
        found_scheduler = self.get_scheduler(scheduler)
        sampler = self._find_sampler(name)
        if sampler is None:
            split = self._split_suffix(name)
            if split is None:
                raise self._unknown_sampler(name)
            sampler, found_scheduler = split
        if convert_automatic and sampler.default_scheduler == found_scheduler.name:
            found_scheduler = self._schedulers[0]
        return sampler, found_scheduler

    def resolve_names(self, sampler_name: str | None, scheduler: str | None = None) -> tuple[str, str]:
        """(sampler name, schedule type label): what A1111's `get_sampler_and_scheduler` returns."""
        sampler, found = self.resolve(sampler_name, scheduler)
        return sampler.name, found.label

    def default_scheduler_of(self, spec: SamplerSpec) -> SchedulerSpec | None:
        """The concrete schedule type "Automatic" means for this sampler (None: the model's own)."""
        if spec.default_scheduler is None:
            return None
        return self.get_scheduler(spec.default_scheduler)
