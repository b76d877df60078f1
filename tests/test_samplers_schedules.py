"""Sigma schedules: the model's discrete schedule, each Schedule type's values, and build_schedule."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from modules.samplers.discretization import DiscreteSchedule, denoised_from_output
from modules.samplers.lcm import LcmSchedule
from modules.samplers.registry import SamplerRegistry
from modules.samplers.schedulers import AYS_SD15, AYS_SDXL, SCHEDULERS, ScheduleContext
from modules.samplers.sigma_plan import ScheduleSettings, build_schedule, build_sigmas, timestep_sigmas


@pytest.fixture(scope="module")
def schedule() -> DiscreteSchedule:
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float32) ** 2
    return DiscreteSchedule(torch.cumprod(1 - betas, dim=0))


@pytest.fixture(scope="module")
def registry() -> SamplerRegistry:
    return SamplerRegistry()


def run(name: str, schedule: DiscreteSchedule, n: int = 10, **kw: object) -> torch.Tensor:
    spec = {s.name: s for s in SCHEDULERS}[name]
    ctx = ScheduleContext(n, float(schedule.sigma_min), float(schedule.sigma_max), schedule, **kw)
    return spec.fn(ctx)


def test_sigmas_come_from_alphas_cumprod(schedule):
    a = schedule.alphas_cumprod
    assert torch.allclose(schedule.sigmas, ((1 - a) / a) ** 0.5)
    assert schedule.sigma_min == schedule.sigmas[0] and schedule.sigma_max == schedule.sigmas[-1]
    assert float(schedule.sigma_min) == pytest.approx(0.0292, abs=1e-4)
    assert float(schedule.sigma_max) == pytest.approx(14.6146, abs=1e-3)


def test_sigma_to_t_and_back(schedule):
    assert schedule.sigma_to_t(schedule.sigmas[[0, 37, 500, 999]]).tolist() == [0.0, 37.0, 500.0, 999.0]
    t = torch.tensor([0.0, 12.25, 500.5, 998.75, 999.0])
    assert torch.allclose(schedule.sigma_to_t(schedule.t_to_sigma(t)), t, atol=1e-3)
    mid = schedule.t_to_sigma(torch.tensor(500.5))
    assert float(mid) == pytest.approx(
        math.sqrt(float(schedule.sigmas[500] * schedule.sigmas[501])), rel=1e-6
    )
    assert float(schedule.sigma_to_t(torch.tensor(100.0))) == 999.0  # clamped beyond the table
    assert int(schedule.sigma_to_t(mid * 1.0001, quantize=True)) in (500, 501)


def test_automatic_schedule_is_uniform_in_t_and_ends_in_zero(schedule):
    sigmas = schedule.get_sigmas(4)
    assert len(sigmas) == 5 and float(sigmas[-1]) == 0.0
    assert torch.allclose(sigmas[:-1], schedule.sigmas[[999, 666, 333, 0]], rtol=1e-6)
    assert bool((sigmas[:-1].diff() < 0).all())


def test_scalings_for_epsilon_and_v_prediction():
    sigma = torch.tensor(2.0)
    assert [float(c) for c in DiscreteSchedule.scalings(sigma, "epsilon")] == pytest.approx([1, -2, 5**-0.5])
    assert [float(c) for c in DiscreteSchedule.scalings(sigma, "v_prediction")] == pytest.approx(
        [0.2, -2 / 5**0.5, 5**-0.5]
    )
    x0, eps = torch.randn(2, 4, 3, 3), torch.randn(2, 4, 3, 3)
    sig = torch.tensor([2.0, 0.5])
    alpha = (1 / (1 + sig**2)).sqrt().view(-1, 1, 1, 1)
    s_vp = (sig**2 / (1 + sig**2)).sqrt().view(-1, 1, 1, 1)
    x = x0 + sig.view(-1, 1, 1, 1) * eps
    v = alpha * eps - s_vp * x0
    assert torch.allclose(denoised_from_output(x, sig, v, "v_prediction"), x0, atol=1e-5)
    assert torch.allclose(denoised_from_output(x, sig, eps, "epsilon"), x0, atol=1e-5)


def test_bad_inputs_say_what_is_wrong():
    with pytest.raises(ValueError, match="v_prediction"):
        DiscreteSchedule.scalings(torch.tensor(1.0), "sample")
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        DiscreteSchedule(torch.tensor([0.9, 0.5, 0.0]))
    with pytest.raises(ValueError, match="1-D"):
        DiscreteSchedule(torch.ones(2, 2) * 0.5)


def test_karras_follows_the_rho_formula(schedule):
    sigmas = run("karras", schedule, 10)
    smin, smax = float(schedule.sigma_min), float(schedule.sigma_max)
    assert len(sigmas) == 11 and float(sigmas[-1]) == 0.0
    assert float(sigmas[0]) == pytest.approx(smax, rel=1e-5) and float(sigmas[-2]) == pytest.approx(
        smin, rel=1e-5
    )
    ramp = torch.linspace(0, 1, 10)
    expected = (smax ** (1 / 7) + ramp * (smin ** (1 / 7) - smax ** (1 / 7))) ** 7
    assert torch.allclose(sigmas[:-1], expected, rtol=1e-5)
    rho3 = run("karras", schedule, 10, rho=3.0)
    assert torch.allclose(rho3[:-1].pow(1 / 3).diff(), rho3[:-1].pow(1 / 3).diff()[0].expand(9), rtol=1e-3)


def test_exponential_is_log_uniform_and_polyexponential_rho_1_equals_it(schedule):
    sigmas = run("exponential", schedule, 8)
    steps = sigmas[:-1].log().diff()
    assert torch.allclose(steps, steps[0].expand(7), rtol=1e-4)
    assert torch.allclose(run("polyexponential", schedule, 8), sigmas, rtol=1e-5)
    assert not torch.allclose(run("polyexponential", schedule, 8, rho=2.0), sigmas)


def test_sgm_uniform_and_normal_space_timesteps_evenly(schedule):
    sgm = run("sgm_uniform", schedule, 4)
    assert len(sgm) == 5 and float(sgm[-1]) == 0.0
    assert torch.allclose(
        schedule.sigma_to_t(sgm[:-1]), torch.tensor([999.0, 749.25, 499.5, 249.75]), atol=1e-2
    )
    normal = run("normal", schedule, 4)
    assert torch.allclose(
        schedule.sigma_to_t(normal[:-1]), torch.tensor([999.0, 666.0, 333.0, 0.0]), atol=1e-2
    )


def test_simple_and_ddim_pick_training_sigmas(schedule):
    simple = run("simple", schedule, 4)
    assert torch.equal(simple[:-1], schedule.sigmas[[999, 749, 499, 249]])
    ddim = run("ddim", schedule, 4)
    assert torch.equal(ddim[:-1], schedule.sigmas[[751, 501, 251, 1]])


def test_kl_optimal_is_uniform_in_arctan_and_ends_at_sigma_min(schedule):
    sigmas = run("kl_optimal", schedule, 6)
    assert len(sigmas) == 7
    assert float(sigmas[-1]) == pytest.approx(float(schedule.sigma_min), rel=1e-5)
    steps = torch.arctan(sigmas).diff()
    assert torch.allclose(steps, steps[0].expand(6), rtol=1e-4)


def test_align_your_steps_uses_the_published_lists(schedule):
    assert run("align_your_steps", schedule, 11).tolist() == pytest.approx(list(AYS_SD15) + [0.0], rel=1e-6)
    assert run("align_your_steps", schedule, 11, is_sdxl=True).tolist() == pytest.approx(
        list(AYS_SDXL) + [0.0], rel=1e-6
    )
    twenty = run("align_your_steps", schedule, 21)
    assert (
        len(twenty) == 22
        and float(twenty[0]) == pytest.approx(14.615)
        and float(twenty[-2]) == pytest.approx(0.029)
    )
    # log-linear interpolation: every other point of 21 is an original point
    assert twenty[:-1:2].tolist() == pytest.approx(list(AYS_SD15), rel=1e-5)
    assert float(twenty[1]) == pytest.approx(math.sqrt(AYS_SD15[0] * AYS_SD15[1]), rel=1e-5)


def test_beta_spans_sigma_max_to_sigma_min(schedule):
    sigmas = run("beta", schedule, 9)
    assert float(sigmas[0]) == pytest.approx(float(schedule.sigma_max), rel=1e-5)
    assert float(sigmas[-2]) == pytest.approx(float(schedule.sigma_min), rel=1e-5)
    mid = float(schedule.sigma_min + schedule.sigma_max) / 2
    assert float(sigmas[4]) == pytest.approx(mid, rel=1e-5)  # symmetric alpha = beta
    assert bool((sigmas[:-1].diff() < 0).all())


def test_default_schedule_types_follow_the_sampler(schedule, registry):
    spec, sched = registry.resolve("DPM++ 2M", "Automatic")
    built = build_schedule(spec, sched, 10, schedule)
    assert built.schedule_label == "Karras"
    assert torch.allclose(built.sigmas, run("karras", schedule, 10))
    spec, sched = registry.resolve("Euler a", "Automatic")
    built = build_schedule(spec, sched, 10, schedule)
    assert built.schedule_label == "Automatic" and torch.allclose(built.sigmas, schedule.get_sigmas(10))
    spec, sched = registry.resolve("DPM++ 2M SDE", "Automatic")
    assert torch.allclose(build_sigmas(spec, sched, 10, schedule), run("exponential", schedule, 10))
    spec, sched = registry.resolve("Euler", "SGMUniform")
    assert build_schedule(spec, sched, 4, schedule).schedule_label == "SGM Uniform"


def test_discard_penultimate_sigma(schedule, registry):
    spec, sched = registry.resolve("DPM2", "Automatic")
    sigmas = build_sigmas(spec, sched, 10, schedule)
    full = run("karras", schedule, 11)
    assert len(sigmas) == 11
    assert torch.equal(sigmas, torch.cat([full[:-2], full[-1:]]))
    euler, auto = registry.resolve("Euler", None)
    built = build_schedule(
        euler, auto, 10, schedule, ScheduleSettings(always_discard_next_to_last_sigma=True)
    )
    assert built.extra_params == {"Discard penultimate sigma": True}
    assert torch.equal(built.sigmas, torch.cat([schedule.get_sigmas(11)[:-2], torch.zeros(1)]))


def test_settings_overrides_reach_the_schedule_and_the_infotext(schedule, registry):
    spec, sched = registry.resolve("Euler", "karras")
    settings = ScheduleSettings(sigma_min=0.1, sigma_max=10.0, rho=5.0)
    built = build_schedule(spec, sched, 6, schedule, settings)
    assert built.extra_params == {"Schedule min sigma": 0.1, "Schedule max sigma": 10.0, "Schedule rho": 5.0}
    assert float(built.sigmas[0]) == pytest.approx(10.0) and float(built.sigmas[-2]) == pytest.approx(0.1)
    ramp = built.sigmas[:-1].pow(1 / 5).diff()
    assert torch.allclose(ramp, ramp[0].expand(5), rtol=1e-4)
    same_rho = build_schedule(spec, sched, 6, schedule, ScheduleSettings(rho=7.0))
    assert same_rho.extra_params == {}
    expo, expo_sched = registry.resolve("Euler", "exponential")
    assert "Schedule rho" not in build_schedule(expo, expo_sched, 6, schedule, settings).extra_params
    old = build_sigmas(spec, sched, 6, schedule, ScheduleSettings(use_old_karras_scheduler_sigmas=True))
    assert float(old[0]) == pytest.approx(10.0) and float(old[-2]) == pytest.approx(0.1)
    beta_spec, beta = registry.resolve("Euler", "Beta")
    assert build_schedule(beta_spec, beta, 6, schedule).extra_params == {
        "Beta schedule alpha": 0.6,
        "Beta schedule beta": 0.6,
    }
    assert ScheduleSettings.from_settings({"rho": 3, "sigma_min": "0.2", "unrelated": 1}).rho == 3.0


def test_timestep_samplers_use_a1111_timesteps(schedule, registry):
    spec, sched = registry.resolve("DDIM", "Karras")
    built = build_schedule(spec, sched, 20, schedule)
    assert built.schedule_label == "Karras"  # written as chosen, though timestep samplers ignore it
    assert torch.equal(built.sigmas, schedule.sigmas[torch.arange(951, 0, -50)])
    quirky = timestep_sigmas(schedule, 3)  # 1000 // 3 = 333 -> four timesteps 1, 334, 667, 999
    assert torch.equal(quirky, schedule.sigmas[[999, 667, 334, 1]])
    with pytest.raises(ValueError, match="1 to 1000 steps"):
        timestep_sigmas(schedule, 0)


def test_lcm_runs_on_the_fifty_lcm_timesteps(schedule, registry):
    spec, sched = registry.resolve("LCM", "Automatic")
    sigmas = build_sigmas(spec, sched, 8, schedule)
    lcm_schedule = LcmSchedule(schedule)
    assert len(lcm_schedule.sigmas) == 50
    assert torch.equal(lcm_schedule.sigmas, schedule.sigmas[torch.arange(19, 1000, 20)])
    assert [int(lcm_schedule.sigma_to_t(s)) for s in sigmas[:-1]] == [999, 859, 719, 579, 439, 299, 159, 19]
    assert np.allclose(
        sigmas[:-1].numpy(), schedule.sigmas[[999, 859, 719, 579, 439, 299, 159, 19]].numpy(), rtol=1e-5
    )


def test_steps_must_be_positive(schedule, registry):
    spec, sched = registry.resolve("Euler", None)
    with pytest.raises(ValueError, match="at least 1"):
        build_sigmas(spec, sched, 0, schedule)
