"""Per-run sampler parameters and how they are chosen from the request and the settings.

Why a frozen dataclass: the engine builds one per job from the request (which wins) and the
settings (the fallback), and samplers read it without being able to change global state.
`options_for` also returns the infotext entries A1111 writes when a value differs from the
sampler's default ("Eta", "Eta DDIM", "Sigma churn", ...), so pasting an infotext restores them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from modules.samplers.discretization import DiscreteSchedule

if TYPE_CHECKING:
    from modules.samplers.spec import SamplerSpec

UNI_PC_VARIANTS = ("bh1", "bh2", "vary_coeff")
UNI_PC_SKIP_TYPES = ("time_uniform", "time_quadratic", "logSNR")
SOLVER_TYPES = ("midpoint", "heun")


@dataclass(frozen=True)
class SamplerOptions:
    """Everything a sampler function may read besides the model, latent and sigmas.

    `schedule` is the model's DiscreteSchedule; timestep samplers (DDIM, PLMS, UniPC) and LCM
    need it, k-diffusion samplers ignore it. `img2img` tells UniPC where to start, as A1111.
    """

    eta: float = 1.0
    s_churn: float = 0.0
    s_tmin: float = 0.0
    s_tmax: float = math.inf
    s_noise: float = 1.0
    solver_type: str = "midpoint"
    schedule: DiscreteSchedule | None = None
    img2img: bool = False
    uni_pc_variant: str = "bh1"
    uni_pc_skip_type: str = "time_uniform"
    uni_pc_order: int = 3
    uni_pc_lower_order_final: bool = True

    def __post_init__(self) -> None:
        if self.solver_type not in SOLVER_TYPES:
            raise ValueError(f"solver_type must be one of {SOLVER_TYPES}, got {self.solver_type!r}")
        if self.uni_pc_variant not in UNI_PC_VARIANTS:
            raise ValueError(
                f"UniPC variant must be one of {UNI_PC_VARIANTS} (setting 'uni_pc_variant'), "
                f"got {self.uni_pc_variant!r}"
            )
        if self.uni_pc_skip_type not in UNI_PC_SKIP_TYPES:
            raise ValueError(
                f"UniPC skip type must be one of {UNI_PC_SKIP_TYPES} (setting 'uni_pc_skip_type'), "
                f"got {self.uni_pc_skip_type!r}"
            )
        if self.uni_pc_order < 1:
            raise ValueError(
                f"UniPC order must be at least 1 (setting 'uni_pc_order'), got {self.uni_pc_order}"
            )

    def require_schedule(self, sampler: str) -> DiscreteSchedule:
        """Timestep samplers need the model's alphas; say so clearly when the engine forgot them."""
        if self.schedule is None:
            raise ValueError(
                f"Sampler {sampler} needs SamplerOptions.schedule (the model's DiscreteSchedule "
                "built from alphas_cumprod)"
            )
        return self.schedule


_CHURN_DEFAULTS = MappingProxyType({"s_churn": 0.0, "s_tmin": 0.0, "s_tmax": math.inf, "s_noise": 1.0})
_CHURN_LABELS = MappingProxyType(
    {
        "s_churn": "Sigma churn",
        "s_tmin": "Sigma tmin",
        "s_tmax": "Sigma tmax",
        "s_noise": "Sigma noise",
    }
)


def _pick(request_value: Any, settings: Mapping[str, Any], key: str, default: Any) -> Any:
    if request_value is not None:
        return request_value
    return settings.get(key, default)


def _churn_values(
    spec: "SamplerSpec", settings: Mapping[str, Any], requested: Mapping[str, Any]
) -> tuple[dict[str, float], dict[str, Any]]:
    values: dict[str, float] = {}
    infotext: dict[str, Any] = {}
    for name, default in _CHURN_DEFAULTS.items():
        if name not in spec.extra_params:
            continue
        value = float(_pick(requested.get(name), settings, name, default))
        if name == "s_tmax" and not value:
            value = math.inf
        values[name] = value
        if value != default:
            infotext[_CHURN_LABELS[name]] = value
    return values, infotext


def options_for(
    spec: "SamplerSpec",
    settings: Mapping[str, Any],
    *,
    eta: float | None = None,
    s_churn: float | None = None,
    s_tmin: float | None = None,
    s_tmax: float | None = None,
    s_noise: float | None = None,
    schedule: DiscreteSchedule | None = None,
    img2img: bool = False,
) -> tuple[SamplerOptions, dict[str, Any]]:
    """SamplerOptions for one job plus the infotext entries A1111 would record.

    Request values win over settings. Eta comes from `eta_ddim` (default 0, infotext
    "Eta DDIM") for timestep samplers and from `eta_ancestral` (default 1, "Eta") otherwise,
    and is only recorded for samplers that use it. Churn parameters only reach the samplers
    A1111 passes them to (Euler, Heun, DPM2; s_noise also to the SDE/ancestral family).
    """
    timestep_kind = spec.kind == "timestep"
    eta_key, eta_default, eta_label = (
        ("eta_ddim", 0.0, "Eta DDIM") if timestep_kind else ("eta_ancestral", 1.0, "Eta")
    )
    eta_value = float(_pick(eta, settings, eta_key, eta_default))
    infotext: dict[str, Any] = {}
    if spec.takes_eta and eta_value != eta_default:
        infotext[eta_label] = eta_value
    requested = {"s_churn": s_churn, "s_tmin": s_tmin, "s_tmax": s_tmax, "s_noise": s_noise}
    churn, churn_info = _churn_values(spec, settings, requested)
    infotext.update(churn_info)
    options = SamplerOptions(
        eta=eta_value if spec.takes_eta else eta_default,
        schedule=schedule,
        img2img=img2img,
        solver_type=spec.options.get("solver_type", "midpoint"),
        uni_pc_variant=str(settings.get("uni_pc_variant", "bh1")),
        uni_pc_skip_type=str(settings.get("uni_pc_skip_type", "time_uniform")),
        uni_pc_order=int(settings.get("uni_pc_order", 3)),
        uni_pc_lower_order_final=bool(settings.get("uni_pc_lower_order_final", True)),
        **churn,
    )
    return options, infotext
