"""Sampler registry: A1111's list, name resolution, errors, API shapes, and per-job options."""

from __future__ import annotations

import math

import pytest

from modules.samplers.options import SamplerOptions, options_for
from modules.samplers.registry import SamplerRegistry, SamplerSpec, UnknownSamplerError
from modules.samplers.sigma_plan import resolved_schedule_label

A1111_ORDER = [
    "DPM++ 2M",
    "DPM++ SDE",
    "DPM++ 2M SDE",
    "DPM++ 2M SDE Heun",
    "DPM++ 2S a",
    "DPM++ 3M SDE",
    "Euler a",
    "Euler",
    "LMS",
    "Heun",
    "DPM2",
    "DPM2 a",
    "DPM fast",
    "DPM adaptive",
    "Restart",
    "DDIM",
    "DDIM CFG++",
    "PLMS",
    "UniPC",
    "LCM",
]


@pytest.fixture()
def registry() -> SamplerRegistry:
    return SamplerRegistry()


def test_the_twenty_samplers_in_ui_order(registry):
    assert [s.name for s in registry.list()] == A1111_ORDER
    assert [s.name for s in registry.list(hidden=["PLMS", "DPM fast"])] == [
        n for n in A1111_ORDER if n not in ("PLMS", "DPM fast")
    ]


def test_sampler_facts_match_a1111(registry):
    get = registry.get
    assert get("DPM++ 2M").default_scheduler == "karras"
    assert get("DPM++ 2M SDE").brownian and get("DPM++ 2M SDE").default_scheduler == "exponential"
    assert get("DPM++ 2M SDE Heun").options["solver_type"] == "heun"
    assert get("DPM++ 3M SDE").discard_next_to_last_sigma
    assert get("DPM2").discard_next_to_last_sigma and get("DPM2 a").discard_next_to_last_sigma
    assert get("Euler a").uses_ensd and get("Euler a").default_scheduler is None
    assert get("Heun").second_order and get("Restart").default_scheduler == "karras"
    assert {s.name for s in registry.list() if s.kind == "timestep"} == {
        "DDIM",
        "DDIM CFG++",
        "PLMS",
        "UniPC",
    }
    assert get("LCM").kind == "lcm"
    assert (
        get("DDIM CFG++").cfg_scale_multiplier == pytest.approx(1 / 12.5) and get("DDIM CFG++").needs_uncond
    )


@pytest.mark.parametrize(
    ("sampler", "scheduler", "expected"),
    [
        ("DPM++ 2M Karras", None, ("DPM++ 2M", "Automatic")),
        ("DPM++ 2M", "Karras", ("DPM++ 2M", "Automatic")),
        ("DPM++ 2M", "karras", ("DPM++ 2M", "Automatic")),
        ("DPM++ 2M", "Exponential", ("DPM++ 2M", "Exponential")),
        ("DPM++ 2M SDE Karras", "Automatic", ("DPM++ 2M SDE", "Karras")),
        ("DPM++ 2M SDE Exponential", None, ("DPM++ 2M SDE", "Automatic")),
        ("DPM++ 2M SDE Heun", None, ("DPM++ 2M SDE Heun", "Automatic")),
        ("k_euler_a", None, ("Euler a", "Automatic")),
        ("k_euler_ancestral", "Automatic", ("Euler a", "Automatic")),
        ("Euler a", "Automatic", ("Euler a", "Automatic")),
        ("euler a", "", ("Euler a", "Automatic")),
        ("Euler", "SGMUniform", ("Euler", "SGM Uniform")),
        ("Euler SGM Uniform", None, ("Euler", "SGM Uniform")),
        ("LMS Karras", None, ("LMS", "Karras")),
        ("k_dpmpp_2m", "align_your_steps", ("DPM++ 2M", "Align Your Steps")),
        ("DDIM", "Karras", ("DDIM", "Karras")),
        (None, None, ("DPM++ 2M", "Automatic")),
    ],
)
def test_resolution_table(registry, sampler, scheduler, expected):
    assert registry.resolve_names(sampler, scheduler) == expected


def test_unknown_sampler_lists_the_valid_names(registry):
    with pytest.raises(UnknownSamplerError) as info:
        registry.resolve("Euler b", None)
    message = str(info.value)
    assert "Unknown sampler 'Euler b'" in message
    assert "DPM++ 2M, DPM++ SDE" in message and "LCM" in message and "k_euler_a" in message
    assert info.value.valid == A1111_ORDER
    with pytest.raises(UnknownSamplerError, match="Unknown sampler 'DPM\\+\\+ 9M Karras'"):
        registry.resolve("DPM++ 9M Karras", None)


def test_unknown_schedule_type_lists_the_valid_labels(registry):
    with pytest.raises(
        UnknownSamplerError, match="Unknown schedule type 'Fancy'.*Automatic, Uniform, Karras"
    ):
        registry.resolve("Euler", "Fancy")
    with pytest.raises(UnknownSamplerError):
        registry.get("nope")


def test_resolved_schedule_label_for_infotext(registry):
    assert resolved_schedule_label(*registry.resolve("DPM++ 2M", "Automatic")) == "Karras"
    assert resolved_schedule_label(*registry.resolve("DPM++ 2M SDE", None)) == "Exponential"
    assert resolved_schedule_label(*registry.resolve("Euler a", "Automatic")) == "Automatic"
    assert resolved_schedule_label(*registry.resolve("Euler", "Karras")) == "Karras"
    assert resolved_schedule_label(*registry.resolve("UniPC", None)) == "Automatic"


def test_api_shapes(registry):
    first = registry.get("DPM++ 2M").api_dict()
    assert first == {"name": "DPM++ 2M", "aliases": ["k_dpmpp_2m"], "options": {"scheduler": "karras"}}
    assert registry.get("DPM++ SDE").api_dict()["options"] == {
        "scheduler": "karras",
        "second_order": True,
        "brownian_noise": True,
    }
    karras = registry.get_scheduler("karras").api_dict()
    assert karras == {
        "name": "karras",
        "label": "Karras",
        "aliases": None,
        "default_rho": 7.0,
        "need_inner_model": False,
    }
    assert registry.get_scheduler("SGM Uniform").api_dict()["aliases"] == ["SGMUniform"]
    assert [s.name for s in registry.schedulers()][:3] == ["automatic", "uniform", "karras"]


def test_extensions_can_add_samplers_to_one_registry_only(registry):
    spec = SamplerSpec("My sampler", ("my",), None, lambda *a, **k: None)
    registry.add(spec)
    assert registry.get("my") is spec and registry.list()[-1] is spec
    assert SamplerRegistry().list()[-1].name == "LCM"
    with pytest.raises(ValueError, match="already registered"):
        registry.add(spec)
    with pytest.raises(ValueError, match="kind must be one of"):
        SamplerSpec("Bad", (), None, lambda: None, kind="flow")


def test_options_eta_comes_from_the_right_setting_and_is_recorded_when_not_default(registry):
    settings = {"eta_ancestral": 1.0, "eta_ddim": 0.0}
    options, info = options_for(registry.get("Euler a"), settings)
    assert options.eta == 1.0 and info == {}
    options, info = options_for(registry.get("Euler a"), settings, eta=0.5)
    assert options.eta == 0.5 and info == {"Eta": 0.5}
    options, info = options_for(registry.get("DDIM"), {**settings, "eta_ddim": 0.3})
    assert options.eta == 0.3 and info == {"Eta DDIM": 0.3}
    options, info = options_for(registry.get("DPM++ 2M"), settings, eta=0.5)
    assert info == {}  # DPM++ 2M does not use eta


def test_churn_parameters_only_reach_samplers_that_take_them(registry):
    settings = {"s_churn": 0.3, "s_tmax": 0.0, "s_noise": 1.0}
    options, info = options_for(registry.get("Euler"), settings, s_churn=0.5, s_tmin=0.2)
    assert (options.s_churn, options.s_tmin, options.s_tmax) == (0.5, 0.2, math.inf)
    assert info == {"Sigma churn": 0.5, "Sigma tmin": 0.2}
    options, info = options_for(registry.get("Heun"), settings)
    assert options.s_churn == 0.3 and info == {"Sigma churn": 0.3}
    options, info = options_for(registry.get("DPM++ 2M SDE"), settings, s_noise=0.9, s_churn=0.7)
    assert options.s_noise == 0.9 and options.s_churn == 0.0 and info == {"Sigma noise": 0.9}
    options, _ = options_for(registry.get("DPM++ 2M SDE Heun"), {})
    assert options.solver_type == "heun"


def test_options_validate_their_values():
    with pytest.raises(ValueError, match="UniPC variant must be one of"):
        SamplerOptions(uni_pc_variant="bh3")
    with pytest.raises(ValueError, match="solver_type"):
        SamplerOptions(solver_type="rk4")
    with pytest.raises(ValueError, match="needs SamplerOptions.schedule"):
        SamplerOptions().require_schedule("UniPC")
