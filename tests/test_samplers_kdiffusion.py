"""Our k-diffusion-family samplers against k-diffusion 0.1.1.post1 itself, on identical inputs.

A1111 calls k-diffusion's functions; the samplers here are our own implementation of the same
algorithms. Each test runs both on the same denoiser, latent, sigmas and noise, with
k-diffusion's `torch.randn_like` routed to the same noise sequence as our `noise_sampler`
(A1111 routes it to the image RNG), and asks for the same result to the last bit and for the
same number of noise draws, because every draw advances the image RNG the next draw comes from.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable

import pytest
import torch

from modules.samplers import dpm_solver, dpmpp, kdiffusion
from modules.samplers.discretization import DiscreteSchedule
from modules.samplers.options import SamplerOptions
from modules.samplers.registry import SamplerRegistry
from modules.samplers.schedulers import karras_sigmas
from modules.samplers.sigma_plan import build_sigmas
from tests.kdiffusion_reference import load_sampling, routed_randn

SHAPE = (2, 4, 8, 8)


class Denoiser:
    """A smooth, nonlinear, batch-independent stand-in for a UNet; counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, **_: object) -> torch.Tensor:
        self.calls += 1
        s = sigma.view(-1, 1, 1, 1)
        return x / (1 + s**2) + 0.4 * torch.tanh(1.5 * x) * s / (1 + s) - 0.1 * torch.sin(x) / (1 + s**2)


class Draws:
    """A seeded noise sequence; two instances with one seed yield identical draws."""

    def __init__(self, seed: int) -> None:
        self.gen = torch.Generator().manual_seed(seed)
        self.count = 0

    def __call__(self, like: torch.Tensor) -> torch.Tensor:
        self.count += 1
        return torch.randn(like.shape, generator=self.gen, dtype=like.dtype)


@pytest.fixture(scope="module")
def ref():
    return load_sampling()


@pytest.fixture(scope="module")
def schedule() -> DiscreteSchedule:
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000) ** 2
    return DiscreteSchedule(torch.cumprod(1 - betas, dim=0))


def start_latent(sigma: torch.Tensor | float) -> torch.Tensor:
    return torch.randn(SHAPE, generator=torch.Generator().manual_seed(1234)) * sigma


def run_both(
    ref,
    ours_fn: Callable[..., torch.Tensor],
    ref_fn: Callable[..., torch.Tensor],
    x: torch.Tensor,
    ours_kwargs: dict,
    ref_kwargs: dict,
) -> tuple[torch.Tensor, torch.Tensor, Draws, Draws]:
    """Run our sampler and k-diffusion's on the same inputs and the same noise sequence."""
    ours_draws, ref_draws = Draws(7), Draws(7)
    ours = ours_fn(Denoiser(), x.clone(), noise_sampler=lambda s, sn: ours_draws(x), **ours_kwargs)
    if "noise_sampler" in inspect.signature(ref_fn).parameters:
        # the SDE samplers would build an unseeded Brownian tree; A1111 passes its own sampler
        ref_kwargs = {**ref_kwargs, "noise_sampler": lambda s, sn: ref_draws(x)}
    with routed_randn(ref, ref_draws):
        theirs = ref_fn(Denoiser(), x.clone(), disable=True, **ref_kwargs)
    return ours, theirs, ours_draws, ref_draws


def assert_same(ours: torch.Tensor, theirs: torch.Tensor, atol: float = 0.0) -> None:
    assert torch.isfinite(theirs).all()
    diff = float((ours - theirs).abs().max())
    assert diff <= atol, f"differs from k-diffusion by {diff:.3g} (allowed {atol:g})"


KARRAS_10 = karras_sigmas(10, 0.0292, 14.6146)

# (our function, k-diffusion's name, our options, k-diffusion's keyword arguments)
PLAIN_CASES = {
    "Euler": (kdiffusion.euler, "sample_euler", {}, {}),
    "Euler a": (kdiffusion.euler_ancestral, "sample_euler_ancestral", {}, {}),
    "Heun": (kdiffusion.heun, "sample_heun", {}, {}),
    "DPM2": (kdiffusion.dpm_2, "sample_dpm_2", {}, {}),
    "DPM2 a": (kdiffusion.dpm_2_ancestral, "sample_dpm_2_ancestral", {}, {}),
    "DPM++ 2S a": (dpmpp.dpmpp_2s_ancestral, "sample_dpmpp_2s_ancestral", {}, {}),
    "DPM++ 2M": (dpmpp.dpmpp_2m, "sample_dpmpp_2m", {}, {}),
    "DPM++ SDE": (dpmpp.dpmpp_sde, "sample_dpmpp_sde", {}, {}),
    "DPM++ 2M SDE": (dpmpp.dpmpp_2m_sde, "sample_dpmpp_2m_sde", {}, {}),
    "DPM++ 2M SDE Heun": (
        dpmpp.dpmpp_2m_sde,
        "sample_dpmpp_2m_sde",
        {"solver_type": "heun"},
        {"solver_type": "heun"},
    ),
    "DPM++ 3M SDE": (dpmpp.dpmpp_3m_sde, "sample_dpmpp_3m_sde", {}, {}),
    "Euler a, eta 0.6, s_noise 1.01": (
        kdiffusion.euler_ancestral,
        "sample_euler_ancestral",
        {"eta": 0.6, "s_noise": 1.01},
        {"eta": 0.6, "s_noise": 1.01},
    ),
}


@pytest.mark.parametrize("case", list(PLAIN_CASES))
def test_sampler_equals_k_diffusion(ref, case):
    ours_fn, ref_name, our_options, ref_kwargs = PLAIN_CASES[case]
    sigmas = KARRAS_10
    ours, theirs, ours_draws, ref_draws = run_both(
        ref,
        ours_fn,
        getattr(ref, ref_name),
        start_latent(sigmas[0]),
        {"sigmas": sigmas, "options": SamplerOptions(**our_options)},
        {"sigmas": sigmas, **ref_kwargs},
    )
    assert_same(ours, theirs)
    assert ours_draws.count == ref_draws.count


def test_lms_equals_k_diffusion(ref):
    """LMS integrates its coefficients with scipy's quad in both: same calls, same bits."""
    sigmas = KARRAS_10
    ours, theirs, _, _ = run_both(
        ref, kdiffusion.lms, ref.sample_lms, start_latent(sigmas[0]), {"sigmas": sigmas}, {"sigmas": sigmas}
    )
    assert_same(ours, theirs)


CHURN = {"s_churn": 1.0, "s_tmin": 0.5, "s_tmax": 5.0, "s_noise": 1.003}


@pytest.mark.parametrize(
    "ours_fn,ref_name",
    [
        (kdiffusion.euler, "sample_euler"),
        (kdiffusion.heun, "sample_heun"),
        (kdiffusion.dpm_2, "sample_dpm_2"),
    ],
)
def test_churn_limited_by_tmin_tmax_draws_noise_every_step(ref, ours_fn, ref_name):
    """k-diffusion draws churn noise on every step, churned or not (A1111 takes those draws from
    the image RNG), so the noise used at a churned step is the step's own draw."""
    sigmas = KARRAS_10
    churned = [0.5 <= float(s) <= 5.0 for s in sigmas[:-1]]
    assert any(churned) and not all(churned) and not churned[0]
    ours, theirs, ours_draws, ref_draws = run_both(
        ref,
        ours_fn,
        getattr(ref, ref_name),
        start_latent(sigmas[0]),
        {"sigmas": sigmas, "options": SamplerOptions(**CHURN)},
        {"sigmas": sigmas, **CHURN},
    )
    assert ref_draws.count == len(sigmas) - 1
    assert ours_draws.count == ref_draws.count
    assert_same(ours, theirs)


@pytest.mark.parametrize("eta", [1.0, 1.5, 3.0])
def test_dpm2_ancestral_adds_noise_only_in_its_second_order_branch(ref, eta):
    """With eta > 1, sigma_down reaches 0 before the last step; k-diffusion then takes an Euler
    step to 0 and adds no noise (and draws none)."""
    sigmas = KARRAS_10
    ours, theirs, ours_draws, ref_draws = run_both(
        ref,
        kdiffusion.dpm_2_ancestral,
        ref.sample_dpm_2_ancestral,
        start_latent(sigmas[0]),
        {"sigmas": sigmas, "options": SamplerOptions(eta=eta)},
        {"sigmas": sigmas, "eta": eta},
    )
    if eta > 1:
        assert ref_draws.count < len(sigmas) - 2  # the case the test is about does occur
    assert ours_draws.count == ref_draws.count
    assert_same(ours, theirs)


def _dpm_case(schedule: DiscreteSchedule, scheduler: str, steps: int) -> torch.Tensor:
    registry = SamplerRegistry()
    spec, sched = registry.resolve("DPM fast", scheduler)
    return build_sigmas(spec, sched, steps, schedule)


@pytest.mark.parametrize("scheduler", ["Automatic", "Karras", "SGM Uniform", "Simple", "DDIM", "Align Your Steps"])
@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_dpm_fast_in_txt2img_uses_the_models_sigma_range_and_steps(ref, schedule, scheduler, eta):
    """A1111 (txt2img) gives DPM fast the model's own sigma_min/sigma_max and n = steps, whatever
    the schedule type; only the start latent's scale comes from the schedule."""
    steps = 10
    sigmas = _dpm_case(schedule, scheduler, steps)
    x = start_latent(sigmas[0])
    options = SamplerOptions(schedule=schedule, eta=eta)
    ours, theirs, ours_draws, ref_draws = run_both(
        ref,
        dpm_solver.dpm_fast,
        ref.sample_dpm_fast,
        x,
        {"sigmas": sigmas, "options": options},
        {
            "sigma_min": float(schedule.sigma_min),
            "sigma_max": float(schedule.sigma_max),
            "n": steps,
            "eta": eta,
        },
    )
    assert ours_draws.count == ref_draws.count
    assert_same(ours, theirs)


@pytest.mark.parametrize("scheduler", ["Automatic", "SGM Uniform", "Align Your Steps"])
def test_dpm_adaptive_in_txt2img_uses_the_models_sigma_range(ref, schedule, scheduler):
    sigmas = _dpm_case(schedule, scheduler, 10)
    ours, theirs, _, _ = run_both(
        ref,
        dpm_solver.dpm_adaptive,
        ref.sample_dpm_adaptive,
        start_latent(sigmas[0]),
        {"sigmas": sigmas, "options": SamplerOptions(schedule=schedule, eta=0.0)},
        {"sigma_min": float(schedule.sigma_min), "sigma_max": float(schedule.sigma_max), "eta": 0.0},
    )
    assert_same(ours, theirs)


@pytest.mark.parametrize(
    "ours_fn,ref_name", [(dpm_solver.dpm_fast, "sample_dpm_fast"), (dpm_solver.dpm_adaptive, "sample_dpm_adaptive")]
)
def test_dpm_fast_and_adaptive_in_img2img_follow_the_sliced_schedule(ref, schedule, ours_fn, ref_name):
    """img2img (and the hires pass) give them sigma_sched[0], sigma_sched[-2] and n = len - 1."""
    full = _dpm_case(schedule, "Karras", 20)
    sched = full[8:]
    kwargs = {"sigma_min": float(sched[-2]), "sigma_max": float(sched[0]), "eta": 1.0}
    if ref_name == "sample_dpm_fast":
        kwargs["n"] = len(sched) - 1
    ours, theirs, ours_draws, ref_draws = run_both(
        ref,
        ours_fn,
        getattr(ref, ref_name),
        start_latent(sched[0]),
        {"sigmas": sched, "options": SamplerOptions(schedule=schedule, img2img=True, eta=1.0)},
        kwargs,
    )
    assert ours_draws.count == ref_draws.count
    assert_same(ours, theirs)


def test_model_sigma_range_differs_from_the_schedules_where_it_matters(schedule):
    """Guard: on SGM Uniform the schedule's last sigma is far from the model's sigma_min, so the
    txt2img test above tells the two integration ranges apart."""
    sigmas = _dpm_case(schedule, "SGM Uniform", 10)
    assert math.isclose(float(schedule.sigma_min), 0.0292, rel_tol=0.01)
    assert float(sigmas[-2]) > 10 * float(schedule.sigma_min)
