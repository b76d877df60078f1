"""Sampler behaviour on an exactly solvable model, plus the start-of-sampling helpers.

With Gaussian data x0 ~ N(0, S^2), the ideal denoiser is D(x, sigma) = x S^2 / (S^2 + sigma^2) and
the probability-flow ODE has the closed form x(sigma) = x(sigma_0) sqrt((S^2 + sigma^2) / (S^2 + sigma_0^2)).
Deterministic samplers must converge to it; stochastic ones must produce samples with std S.
"""

from __future__ import annotations

import math

import pytest
import torch

from modules.noise import ImageRNG
from modules.samplers.discretization import DiscreteSchedule
from modules.samplers.dpm_solver import fast_orders
from modules.samplers.options import SamplerOptions, options_for
from modules.samplers.registry import SamplerRegistry
from modules.samplers.restart import default_restart_plan, restart_step_list
from modules.samplers.sigma_plan import build_sigmas
from modules.samplers.start import img2img_start, img2img_steps, sampler_noise, txt2img_start

S = 0.5
SHAPE = (4, 16, 16)


class GaussianDenoiser:
    """The ideal denoiser for N(0, S^2) data; counts calls and exposes the CFG++ attribute."""

    def __init__(self) -> None:
        self.calls = 0
        self.last_uncond_denoised: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, **extra: object) -> torch.Tensor:
        assert sigma.shape == (x.shape[0],)
        self.calls += 1
        denoised = x * S**2 / (S**2 + sigma.view(-1, 1, 1, 1) ** 2)
        self.last_uncond_denoised = denoised
        return denoised


@pytest.fixture(scope="module")
def schedule() -> DiscreteSchedule:
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000) ** 2
    return DiscreteSchedule(torch.cumprod(1 - betas, dim=0))


@pytest.fixture(scope="module")
def registry() -> SamplerRegistry:
    return SamplerRegistry()


def sample(
    registry,
    schedule,
    name: str,
    steps: int,
    seeds=(1, 2),
    eta: float | None = None,
    model: GaussianDenoiser | None = None,
    callback=None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run a sampler the way the engine will: returns (output, start latent, sigmas)."""
    spec, scheduler = registry.resolve(name, None)
    sigmas = build_sigmas(spec, scheduler, steps, schedule)
    rng = ImageRNG(SHAPE, list(seeds), source="CPU")
    x = txt2img_start(spec, rng.first(), sigmas)
    options, _ = options_for(spec, {}, eta=eta, schedule=schedule)
    noise = sampler_noise(spec, x, sigmas, rng, list(seeds))
    out = spec.fn(
        model or GaussianDenoiser(),
        x,
        sigmas,
        extra_args={},
        callback=callback,
        noise_sampler=noise,
        options=options,
    )
    return out, x, sigmas


def exact(name: str, x: torch.Tensor, sigmas: torch.Tensor, schedule: DiscreteSchedule) -> torch.Tensor:
    """The ODE solution where the sampler ends (for timestep samplers: a VP latent at the last timestep)."""
    s0 = float(sigmas[0])
    if name in ("DDIM", "PLMS", "UniPC"):
        if name == "UniPC":  # UniPC starts at t=999 from the same VP latent and ends at t=0
            x, s0, s_end = (
                x / math.sqrt(1 + s0**2) * math.sqrt(1 + float(schedule.sigma_max) ** 2),
                float(schedule.sigma_max),
                float(schedule.sigma_min),
            )
        else:
            s_end = float(sigmas[-1])
        return x * math.sqrt((S**2 + s_end**2) / (S**2 + s0**2)) / math.sqrt(1 + s_end**2)
    return x * S / math.sqrt(S**2 + s0**2)


def rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    return float((out - ref).abs().max() / ref.abs().max())


@pytest.mark.parametrize(
    "name",
    [
        "Euler",
        "Heun",
        "LMS",
        "DPM2",
        "DPM++ 2M",
        "DDIM",
        "PLMS",
        "UniPC",
        "DPM fast",
        "DPM++ 2M SDE",
        "DPM++ 3M SDE",
        "DPM++ 2S a",
    ],
)
def test_deterministic_samplers_converge_to_the_ode_solution(registry, schedule, name):
    errors = []
    for steps in (10, 40):
        out, x, sigmas = sample(registry, schedule, name, steps, eta=0.0)
        errors.append(rel_err(out, exact(name, x, sigmas, schedule)))
    assert errors[1] < 0.1
    assert errors[1] < errors[0] / 3


def test_dpm_adaptive_meets_its_tolerance(registry, schedule):
    out, x, sigmas = sample(registry, schedule, "DPM adaptive", 10, eta=0.0)
    assert rel_err(out, exact("DPM adaptive", x, sigmas, schedule)) < 0.05


@pytest.mark.parametrize(
    "name",
    [
        "DPM++ SDE",
        "DPM++ 2M SDE",
        "DPM++ 2M SDE Heun",
        "DPM++ 2S a",
        "DPM++ 3M SDE",
        "Euler a",
        "DPM2 a",
        "DPM fast",
        "Restart",
        "LMS",
        "UniPC",
    ],
)
def test_samplers_turn_noise_into_data_statistics(registry, schedule, name):
    out, _, _ = sample(registry, schedule, name, 30)
    assert abs(float(out.std()) - S) < 0.1
    assert abs(float(out.mean())) < 0.05


@pytest.mark.parametrize(
    ("ancestral", "plain"), [("Euler a", "Euler"), ("DPM2 a", "DPM2"), ("DPM++ SDE", "DPM++ 2S a")]
)
def test_eta_zero_removes_the_noise(registry, schedule, ancestral, plain):
    a, _, _ = sample(registry, schedule, ancestral, 8, eta=0.0)
    spec, _ = registry.resolve(plain, None)
    sigmas = build_sigmas(
        spec, registry.get_scheduler(registry.get(ancestral).default_scheduler), 8, schedule
    )
    x = txt2img_start(spec, ImageRNG(SHAPE, [1, 2], source="CPU").first(), sigmas)
    b = spec.fn(GaussianDenoiser(), x, sigmas, options=SamplerOptions(eta=0.0))
    assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("name", ["Euler a", "DPM++ SDE", "DPM++ 2M SDE", "DPM++ 3M SDE", "DDIM", "LCM"])
def test_image_k_of_a_batch_equals_its_seed_alone(registry, schedule, name):
    batch, _, _ = sample(registry, schedule, name, 6, seeds=(11, 12, 13), eta=1.0 if name == "DDIM" else None)
    alone, _, _ = sample(registry, schedule, name, 6, seeds=(12,), eta=1.0 if name == "DDIM" else None)
    assert torch.allclose(batch[1], alone[0], atol=1e-6)
    assert not torch.allclose(batch[0], batch[1])


def test_same_seed_same_picture_different_seed_different_picture(registry, schedule):
    a, _, _ = sample(registry, schedule, "DPM++ 2M SDE", 6, seeds=(5,))
    b, _, _ = sample(registry, schedule, "DPM++ 2M SDE", 6, seeds=(5,))
    c, _, _ = sample(registry, schedule, "DPM++ 2M SDE", 6, seeds=(6,))
    assert torch.equal(a, b) and not torch.allclose(a, c)


@pytest.mark.parametrize(
    ("name", "steps", "calls", "reports"),
    [
        ("DPM++ 2M", 6, 6, 6),
        ("Heun", 6, 11, 6),
        ("Euler a", 6, 6, 6),
        ("DPM2", 6, 11, 6),
        ("LCM", 6, 6, 6),
        ("DPM fast", 6, 6, 3),  # orders 3, 2, 1
        ("DDIM", 5, 4, 4),  # timesteps 801..1: four updates, as A1111
        ("PLMS", 5, 5, 4),  # plus the extra call of the pseudo improved Euler first step
        ("UniPC", 5, 5, 5),  # one call per step; the last step has no corrector call
    ],
)
def test_callback_reports_each_step(registry, schedule, name, steps, calls, reports):
    seen: list[dict] = []
    model = GaussianDenoiser()
    sample(registry, schedule, name, steps, model=model, callback=seen.append)
    assert model.calls == calls
    assert [d["i"] for d in seen] == list(range(reports))
    assert all(set(d) == {"i", "x", "sigma", "sigma_hat", "denoised"} for d in seen)
    assert all(d["denoised"].shape == (2, *SHAPE) for d in seen)


def test_an_exception_from_the_callback_stops_sampling(registry, schedule):
    class Stop(Exception):
        pass

    def interrupt(d: dict) -> None:
        if d["i"] == 2:
            raise Stop

    model = GaussianDenoiser()
    with pytest.raises(Stop):
        sample(registry, schedule, "Euler", 10, model=model, callback=interrupt)
    assert model.calls == 3


def test_ddim_cfgpp_equals_ddim_when_guidance_has_nothing_to_add(registry, schedule):
    plain, _, _ = sample(registry, schedule, "DDIM", 8)
    cfgpp, _, _ = sample(registry, schedule, "DDIM CFG++", 8)
    assert torch.allclose(plain, cfgpp, atol=1e-6)
    spec = registry.get("DDIM CFG++")
    with pytest.raises(ValueError, match="last_uncond_denoised"):
        spec.fn(
            lambda x, s: x,
            torch.ones(1, *SHAPE),
            build_sigmas(spec, registry.get_scheduler(None), 4, schedule),
        )


def test_timestep_samplers_reject_a_k_diffusion_schedule(registry, schedule):
    with pytest.raises(ValueError, match="without the trailing 0"):
        registry.get("PLMS").fn(GaussianDenoiser(), torch.ones(1, *SHAPE), schedule.get_sigmas(4))


def test_unipc_caps_its_order_at_the_step_count(registry, schedule):
    out, _, _ = sample(registry, schedule, "UniPC", 2)
    assert torch.isfinite(out).all()


def test_dpm_fast_spends_exactly_its_model_calls():
    for nfe in (3, 7, 9, 10, 20):
        assert sum(fast_orders(nfe)) == nfe


def test_restart_plan_keeps_the_step_count(schedule):
    sigmas = schedule.get_sigmas(20)
    main, plan = default_restart_plan(sigmas)
    steps = restart_step_list(main, plan)
    assert len(steps) == 20
    jumps = [i for i in range(1, len(steps)) if steps[i][0] > steps[i - 1][1]]
    assert len(jumps) == 1
    assert float(steps[jumps[0]][0]) == pytest.approx(2.0, rel=0.2)
    short = schedule.get_sigmas(10)
    main, plan = default_restart_plan(short)
    assert plan == {} and main is short
    assert len(restart_step_list(*default_restart_plan(schedule.get_sigmas(40)))) == 40


def test_txt2img_start_scales_noise_as_a1111(registry, schedule):
    noise = torch.randn(1, *SHAPE)
    sigmas = torch.tensor([10.0, 1.0, 0.0])
    assert torch.equal(txt2img_start(registry.get("Euler"), noise, sigmas), noise * 10.0)
    assert torch.allclose(
        txt2img_start(registry.get("Euler"), noise, sigmas, sgm_noise_multiplier=True), noise * math.sqrt(101)
    )
    assert torch.allclose(txt2img_start(registry.get("DDIM"), noise, sigmas), noise * math.sqrt(101))


def test_img2img_steps_and_start(registry, schedule):
    assert img2img_steps(20, 0.75) == (20, 15)
    assert img2img_steps(20, 1.0) == (20, 19)
    assert img2img_steps(20, 0.5, fix_steps=True) == (40, 19)
    init, noise = torch.randn(1, *SHAPE), torch.randn(1, *SHAPE)
    spec = registry.get("Euler")
    sigmas = build_sigmas(spec, registry.get_scheduler(None), 20, schedule)
    x, sched = img2img_start(spec, init, noise, sigmas, 20, 15)
    assert torch.equal(sched, sigmas[4:]) and len(sched) == 17
    assert torch.allclose(x, init + noise * sigmas[4])
    ddim = registry.get("DDIM")
    ts = build_sigmas(ddim, registry.get_scheduler(None), 20, schedule)
    x, sched = img2img_start(ddim, init, noise, ts, 20, 15)
    assert torch.equal(sched, schedule.sigmas[torch.arange(701, 0, -50)])
    a = float(schedule.alphas_cumprod[751])  # noised at timestep index t_enc (751), sampled from 701 down
    x_vp = init * a**0.5 + noise * (1 - a) ** 0.5
    assert torch.allclose(x / math.sqrt(1 + float(sched[0]) ** 2), x_vp, atol=1e-5)


@pytest.mark.parametrize(
    ("variant", "skip_type"), [("vary_coeff", "time_uniform"), ("bh2", "logSNR"), ("bh1", "time_quadratic")]
)
def test_unipc_variants_and_skip_types_solve_the_ode(registry, schedule, variant, skip_type):
    spec = registry.get("UniPC")
    sigmas = build_sigmas(spec, registry.get_scheduler(None), 20, schedule)
    x = txt2img_start(spec, ImageRNG(SHAPE, [1], source="CPU").first(), sigmas)
    options = SamplerOptions(schedule=schedule, uni_pc_variant=variant, uni_pc_skip_type=skip_type)
    out = spec.fn(GaussianDenoiser(), x, sigmas, options=options)
    default = spec.fn(GaussianDenoiser(), x, sigmas, options=SamplerOptions(schedule=schedule))
    assert rel_err(out, exact("UniPC", x, sigmas, schedule)) < 0.1  # bh1 + time_uniform: 0.06 here
    assert not torch.allclose(out, default)
