"""Our samplers against diffusers' schedulers on the same tiny random UNet.

Each test drives a diffusers scheduler with a plain loop over the UNet and runs our sampler
function on the same noise, schedule and model (wrapped as a k-diffusion epsilon denoiser),
then compares the final latents. Where diffusers' algorithm differs from A1111 in a detail,
the test configures the equivalent case and says so in its docstring.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

diffusers = pytest.importorskip("diffusers")

from modules.samplers import dpmpp, kdiffusion, lcm, timestep, unipc  # noqa: E402
from modules.samplers.discretization import DiscreteSchedule  # noqa: E402
from modules.samplers.options import SamplerOptions  # noqa: E402
from modules.samplers.schedulers import karras_sigmas  # noqa: E402

BETAS = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
}
TOLERANCE = 1e-4  # max abs difference relative to the largest value of the reference result


class EpsDenoiser:
    """A tiny UNet as a k-diffusion denoiser: D(x, sigma) = x - sigma * eps(x * c_in, t(sigma))."""

    def __init__(self, unet: torch.nn.Module, schedule: DiscreteSchedule, context: torch.Tensor) -> None:
        self.unet, self.schedule, self.context = unet, schedule, context

    def eps(self, x_in: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=torch.float32).reshape(-1).expand(x_in.shape[0])
        ctx = self.context.expand(x_in.shape[0], -1, -1)
        return self.unet(x_in, t, encoder_hidden_states=ctx).sample

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        c_skip, c_out, c_in = self.schedule.scalings(sigma, "epsilon")
        eps = self.eps(x * c_in.view(-1, 1, 1, 1), self.schedule.sigma_to_t(sigma))
        return c_skip.view(-1, 1, 1, 1) * x + c_out.view(-1, 1, 1, 1) * eps


@pytest.fixture(scope="module")
def setup() -> Iterator[tuple[EpsDenoiser, DiscreteSchedule, torch.Tensor]]:
    from diffusers import DDIMScheduler, UNet2DConditionModel

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: extra threads only fight the other jobs on this machine
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(32, 64),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=32,
    ).eval()
    context = torch.randn(1, 4, 32)
    schedule = DiscreteSchedule(DDIMScheduler(**BETAS).alphas_cumprod)
    noise = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(42))
    yield EpsDenoiser(unet, schedule, context), schedule, noise
    torch.set_num_threads(threads)


def drive(
    scheduler: object,
    x: torch.Tensor,
    model: EpsDenoiser,
    *,
    limit: int | None = None,
    unet_time: Callable[[object, torch.Tensor], torch.Tensor] | None = None,
    noises: list[torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The usual diffusers denoising loop; `unet_time` overrides the timestep the UNet sees."""
    accepts = inspect.signature(scheduler.step).parameters
    with torch.no_grad():
        for i, t in enumerate(scheduler.timesteps):
            if limit is not None and i >= limit:
                break
            t_unet = unet_time(scheduler, t) if unet_time else t
            eps = model.eps(scheduler.scale_model_input(x, t), t_unet)
            kwargs = {}
            if noises is not None:
                kwargs["variance_noise"] = noises[i]
            elif generator is not None and "generator" in accepts:
                kwargs["generator"] = generator
            x = scheduler.step(eps, t, x, **kwargs).prev_sample
    return x


def rel_diff(ours: torch.Tensor, ref: torch.Tensor) -> float:
    assert torch.isfinite(ours).all() and torch.isfinite(ref).all()
    return float((ours - ref).abs().max() / ref.abs().max())


def seq_noise(seed: int) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return lambda sigma, sigma_next: torch.randn(2, 4, 8, 8, generator=gen)


def test_euler_matches_euler_discrete_on_karras_sigmas(setup):
    from diffusers import EulerDiscreteScheduler

    model, schedule, noise = setup
    sigmas = karras_sigmas(4, float(schedule.sigma_min), float(schedule.sigma_max))
    ours = kdiffusion.euler(model, noise * sigmas[0], sigmas)
    sch = EulerDiscreteScheduler(**BETAS)
    sch.set_timesteps(sigmas=sigmas.tolist())
    ref = drive(sch, noise * sch.init_noise_sigma, model)
    assert rel_diff(ours, ref) < TOLERANCE


def test_euler_ancestral_matches_with_the_same_noise(setup):
    """diffusers draws (unused) noise on the last step too; with one generator the sequences agree."""
    from diffusers import EulerAncestralDiscreteScheduler

    model, schedule, noise = setup
    sigmas = schedule.get_sigmas(4)  # t = 999, 666, 333, 0: diffusers' linspace spacing hits the same table
    ours = kdiffusion.euler_ancestral(model, noise * sigmas[0], sigmas, noise_sampler=seq_noise(7))
    sch = EulerAncestralDiscreteScheduler(**BETAS)
    sch.set_timesteps(4)
    assert torch.allclose(sch.sigmas, sigmas, rtol=1e-5)
    ref = drive(sch, noise * sch.init_noise_sigma, model, generator=torch.Generator().manual_seed(7))
    assert rel_diff(ours, ref) < TOLERANCE


@pytest.mark.parametrize("sampler,scheduler,steps", [
    ("heun", "HeunDiscreteScheduler", 4),
    ("lms", "LMSDiscreteScheduler", 5),
    ("dpm_2", "KDPM2DiscreteScheduler", 4),
])
def test_deterministic_samplers_match_their_diffusers_scheduler(setup, sampler, scheduler, steps):
    """Heun, LMS and DPM2 on the schedule's own sigmas, against the diffusers scheduler of the same method."""
    import diffusers

    model, schedule, noise = setup
    sigmas = schedule.get_sigmas(steps)
    ours = getattr(kdiffusion, sampler)(model, noise * sigmas[0], sigmas)
    sch = getattr(diffusers, scheduler)(**BETAS)
    sch.set_timesteps(steps)
    ref = drive(sch, noise * sch.init_noise_sigma, model)
    assert rel_diff(ours, ref) < TOLERANCE


def _sigma_time(schedule: DiscreteSchedule) -> Callable[[object, torch.Tensor], torch.Tensor]:
    """diffusers rounds Karras timesteps for the UNet; A1111 (and we) feed the exact fractional t."""
    return lambda sch, t: schedule.sigma_to_t(sch.sigmas[sch.step_index or 0])


def test_dpmpp_2m_karras_matches_dpmsolver_multistep(setup):
    from diffusers import DPMSolverMultistepScheduler

    model, schedule, noise = setup
    sigmas = karras_sigmas(5, float(schedule.sigma_min), float(schedule.sigma_max))
    ours = dpmpp.dpmpp_2m(model, noise * sigmas[0], sigmas)
    sch = DPMSolverMultistepScheduler(
        **BETAS,
        algorithm_type="dpmsolver++",
        solver_order=2,
        use_karras_sigmas=True,
        final_sigmas_type="zero",
    )
    sch.set_timesteps(5)
    assert torch.allclose(sch.sigmas, sigmas, rtol=1e-5)
    ref = drive(sch, noise * sigmas[0] / (1 + sigmas[0] ** 2) ** 0.5, model, unet_time=_sigma_time(schedule))
    assert rel_diff(ours, ref) < TOLERANCE


@pytest.mark.parametrize("solver_type", ["midpoint", "heun"])
def test_dpmpp_2m_sde_matches_sde_dpmsolver_pp(setup, solver_type):
    """Same noise for both; diffusers takes it per step as `variance_noise` (k-space noise == VP noise)."""
    from diffusers import DPMSolverMultistepScheduler

    model, schedule, noise = setup
    sigmas = karras_sigmas(5, float(schedule.sigma_min), float(schedule.sigma_max))
    gen = torch.Generator().manual_seed(3)
    noises = [torch.randn(2, 4, 8, 8, generator=gen) for _ in range(5)]
    queue = list(noises)
    ours = dpmpp.dpmpp_2m_sde(
        model,
        noise * sigmas[0],
        sigmas,
        noise_sampler=lambda s, sn: queue.pop(0),
        options=SamplerOptions(solver_type=solver_type),
    )
    sch = DPMSolverMultistepScheduler(
        **BETAS,
        algorithm_type="sde-dpmsolver++",
        solver_order=2,
        solver_type=solver_type,
        use_karras_sigmas=True,
        final_sigmas_type="zero",
    )
    sch.set_timesteps(5)
    ref = drive(
        sch,
        noise * sigmas[0] / (1 + sigmas[0] ** 2) ** 0.5,
        model,
        unet_time=_sigma_time(schedule),
        noises=noises,
    )
    assert rel_diff(ours, ref) < TOLERANCE


def _a1111_timesteps(schedule: DiscreteSchedule, steps: int) -> torch.Tensor:
    from modules.samplers.sigma_plan import timestep_sigmas

    return timestep_sigmas(schedule, steps)


@pytest.mark.parametrize("eta", [0.0, 0.5])
def test_ddim_matches_ddim_scheduler_for_the_steps_a1111_runs(setup, eta):
    """A1111's DDIM with N steps runs N-1 updates on timesteps 951..1 (for N=20) and stops at t=1:
    that equals diffusers' DDIM ("leading" spacing, steps_offset 1) run for its first N-1 steps."""
    from diffusers import DDIMScheduler

    model, schedule, noise = setup
    steps = 5
    sigmas = _a1111_timesteps(schedule, steps)  # timesteps 801, 601, 401, 201, 1
    x = noise * (1 + sigmas[0] ** 2) ** 0.5
    ours = timestep.ddim(model, x, sigmas, noise_sampler=seq_noise(11), options=SamplerOptions(eta=eta))
    sch = DDIMScheduler(
        **BETAS, timestep_spacing="leading", steps_offset=1, clip_sample=False, set_alpha_to_one=False
    )
    sch.set_timesteps(steps)
    assert sch.timesteps.tolist() == [801, 601, 401, 201, 1]
    gen = torch.Generator().manual_seed(11)
    with torch.no_grad():
        ref = noise.clone()
        for t in sch.timesteps[: steps - 1]:
            ref = sch.step(model.eps(ref, t), t, ref, eta=eta, generator=gen).prev_sample
    assert rel_diff(ours, ref) < TOLERANCE


def test_plms_matches_pndm_without_runge_kutta_warmup(setup):
    """A1111's PLMS (pseudo improved Euler first step, then Adams-Bashforth) is diffusers' PNDM with
    skip_prk_steps; A1111 again stops at t=1, i.e. after diffusers' first N model calls."""
    from diffusers import PNDMScheduler

    model, schedule, noise = setup
    steps = 5
    sigmas = _a1111_timesteps(schedule, steps)
    ours = timestep.plms(model, noise * (1 + sigmas[0] ** 2) ** 0.5, sigmas)
    sch = PNDMScheduler(**BETAS, skip_prk_steps=True, steps_offset=1, set_alpha_to_one=False)
    sch.set_timesteps(steps)
    assert sch.timesteps.tolist() == [801, 601, 601, 401, 201, 1]
    ref = drive(sch, noise.clone(), model, limit=steps)
    assert rel_diff(ours, ref) < TOLERANCE


@pytest.mark.parametrize("variant", ["bh1", "bh2"])
def test_unipc_matches_unipc_multistep(setup, variant):
    """A1111's UniPC (time_uniform, order 3, lower order final) over 9 steps visits t = 999, 888, ..., 0;
    diffusers' linspace spacing with final sigma = sigma(t=0) is the same grid."""
    from diffusers import UniPCMultistepScheduler

    model, schedule, noise = setup
    steps = 9
    sigmas = schedule.sigmas[torch.arange(999, 0, -111)]  # only len(sigmas) and sigmas[0] matter
    x = noise * (1 + sigmas[0] ** 2) ** 0.5
    ours = unipc.unipc(model, x, sigmas, options=SamplerOptions(schedule=schedule, uni_pc_variant=variant))
    sch = UniPCMultistepScheduler(
        **BETAS,
        solver_order=3,
        solver_type=variant,
        predict_x0=True,
        lower_order_final=True,
        final_sigmas_type="sigma_min",
    )
    sch.set_timesteps(steps)
    assert sch.timesteps.tolist() == list(range(999, 0, -111))
    ref = drive(sch, noise.clone(), model)
    assert rel_diff(ours, ref) < TOLERANCE


def test_lcm_matches_lcm_scheduler_on_lcm_timesteps(setup):
    """On the LCM timesteps 999, 859, ..., 19 both do the same consistency steps. Differences from
    diffusers kept for A1111 parity: the boundary c_skip multiplies the k-space latent (x/sqrt(a))
    rather than the VP latent (c_skip < 7e-6 here), and A1111 starts from noise * sigma_max, so the
    test starts ours from the VP noise diffusers uses."""
    from diffusers import LCMScheduler

    model, schedule, noise = setup
    lcm_schedule = lcm.LcmSchedule(schedule)
    sigmas = lcm_schedule.get_sigmas(8)
    timesteps = [int(lcm_schedule.sigma_to_t(s)) for s in sigmas[:-1]]
    assert timesteps == [999, 859, 719, 579, 439, 299, 159, 19]
    x = noise * (1 + sigmas[0] ** 2) ** 0.5
    ours = lcm.lcm(model, x, sigmas, noise_sampler=seq_noise(5), options=SamplerOptions(schedule=schedule))
    sch = LCMScheduler(**BETAS, original_inference_steps=50, timestep_scaling=10.0)
    sch.set_timesteps(timesteps=timesteps)
    ref = drive(sch, noise.clone(), model, generator=torch.Generator().manual_seed(5))
    assert rel_diff(ours, ref) < TOLERANCE


def test_the_tolerance_tells_samplers_apart(setup):
    """Guard against a vacuous comparison: on this model, two different solvers on the same
    schedule differ by far more than the parity tolerance."""
    model, schedule, noise = setup
    sigmas = schedule.get_sigmas(4)
    euler = kdiffusion.euler(model, noise * sigmas[0], sigmas)
    heun = kdiffusion.heun(model, noise * sigmas[0], sigmas)
    assert rel_diff(euler, heun) > 1000 * TOLERANCE


@pytest.mark.filterwarnings("ignore:Should have ta>=t0")
def test_dpmpp_sde_matches_dpmsolver_sde_with_the_same_brownian_tree(setup):
    """diffusers' DPMSolverSDEScheduler is k-diffusion's DPM++ SDE with a Brownian tree on
    [min sigma, max sigma]; one image, one seed: both trees draw the same increments."""
    from diffusers import DPMSolverSDEScheduler

    from modules.samplers.brownian import BrownianTreeNoiseSampler

    model, schedule, noise = setup
    x0 = noise[:1]
    sch = DPMSolverSDEScheduler(**BETAS, use_karras_sigmas=True, noise_sampler_seed=1234)
    sch.set_timesteps(4)
    # Brownian increments scale with sqrt(dt): query both trees at bit-identical (float32) sigmas
    sigmas = torch.unique_consecutive(sch.sigmas)
    assert torch.allclose(
        sigmas, karras_sigmas(4, float(schedule.sigma_min), float(schedule.sigma_max)), rtol=1e-5
    )
    tree = BrownianTreeNoiseSampler(x0, sigmas[sigmas > 0].min(), sigmas.max(), [1234])
    ours = dpmpp.dpmpp_sde(model, x0 * sigmas[0], sigmas, noise_sampler=tree)

    def unet_time(s: object, t: torch.Tensor) -> torch.Tensor:
        sigma = s.sigmas[s.step_index or 0] if s.state_in_first_order else s.mid_point_sigma
        return schedule.sigma_to_t(sigma)

    ref = drive(sch, x0 * sigmas[0], model, unet_time=unet_time)
    assert rel_diff(ours, ref) < TOLERANCE


def _a1111_unipc_grid(schedule: DiscreteSchedule, skip_type: str, steps: int) -> tuple[list[float], list[float]]:
    """A1111's UniPC times for txt2img: t from 1 to 1/N in `steps` steps (log-alpha interpolated
    linearly in t between training timesteps). Returns (UNet timesteps, k-diffusion sigmas)."""
    import numpy as np

    n = schedule.num_timesteps
    log_alphas = 0.5 * np.log(schedule.alphas_cumprod.double().numpy())
    t_array = np.linspace(0.0, 1.0, n + 1)[1:]

    def log_alpha(t: float) -> float:
        return float(np.interp(t, t_array, log_alphas))

    def lam(t: float) -> float:
        return log_alpha(t) - 0.5 * np.log(1 - np.exp(2 * log_alpha(t)))

    t_end = 1.0 / n
    if skip_type == "time_uniform":
        ts = np.linspace(1.0, t_end, steps + 1)
    elif skip_type == "time_quadratic":
        ts = np.linspace(1.0, t_end**0.5, steps + 1) ** 2
    else:  # logSNR: uniform in half-log-SNR, mapped back through the interpolated log-alpha
        lams = np.linspace(lam(1.0), lam(t_end), steps + 1)
        ts = [float(np.interp(-0.5 * np.logaddexp(0, -2 * x), log_alphas[::-1], t_array[::-1])) for x in lams]
    unet_t = [(t - t_end) * 1000 for t in ts]
    sigmas = [float(np.sqrt(np.exp(-2 * log_alpha(t)) - 1)) for t in ts]
    return unet_t, sigmas


@pytest.mark.parametrize("variant,skip_type,order,lower_order_final", [
    ("bh1", "time_uniform", 3, True),  # A1111's defaults
    ("bh2", "time_uniform", 3, True),
    ("bh1", "time_quadratic", 3, True),
    ("bh2", "logSNR", 3, True),
    ("bh1", "time_uniform", 2, True),
    ("bh1", "time_uniform", 3, False),
])
def test_unipc_matches_unipc_multistep_on_a1111s_fractional_grid(setup, variant, skip_type, order,
                                                                  lower_order_final):
    """10 steps: A1111's UniPC visits fractional timesteps (999, 899.1, ..., 99.9, then 0). diffusers'
    UniPCMultistepScheduler is given exactly those sigmas and feeds the UNet the same fractional t."""
    from diffusers import UniPCMultistepScheduler

    model, schedule, noise = setup
    steps = 10
    unet_t, grid = _a1111_unipc_grid(schedule, skip_type, steps)
    sigmas = _a1111_timesteps(schedule, steps)  # what A1111 passes: only its length and first entry matter
    options = SamplerOptions(schedule=schedule, uni_pc_variant=variant, uni_pc_skip_type=skip_type,
                             uni_pc_order=order, uni_pc_lower_order_final=lower_order_final)
    ours = unipc.unipc(model, noise * (1 + sigmas[0] ** 2) ** 0.5, sigmas, options=options)
    sch = UniPCMultistepScheduler(**BETAS, solver_order=order, solver_type=variant, predict_x0=True,
                                  lower_order_final=lower_order_final, final_sigmas_type="sigma_min")
    sch.set_timesteps(steps)
    sch.sigmas = torch.tensor(grid, dtype=torch.float32)
    sch.timesteps = torch.tensor(unet_t[:-1], dtype=torch.float64)
    ref = drive(sch, noise.clone(), model)
    assert rel_diff(ours, ref) < TOLERANCE


@pytest.mark.parametrize("steps", [10, 7])
def test_ddim_matches_ddim_scheduler_on_a1111s_timesteps(setup, steps):
    """A1111's timesteps are range(0, 1000, 1000 // steps) + 1: for 7 steps that is 8 timesteps
    (1, 143, ..., 995). diffusers' DDIM is given that list (its step size 1000 // steps is A1111's)."""
    from diffusers import DDIMScheduler

    model, schedule, noise = setup
    sigmas = _a1111_timesteps(schedule, steps)
    a1111_t = list(range(0, 1000, 1000 // steps))[::-1]
    a1111_t = [t + 1 for t in a1111_t]
    assert torch.equal(sigmas, schedule.sigmas[a1111_t])
    ours = timestep.ddim(model, noise * (1 + sigmas[0] ** 2) ** 0.5, sigmas, options=SamplerOptions(eta=0.0))
    sch = DDIMScheduler(**BETAS, timestep_spacing="leading", steps_offset=1, clip_sample=False,
                        set_alpha_to_one=False)
    sch.set_timesteps(steps)
    sch.timesteps = torch.tensor(a1111_t)
    with torch.no_grad():
        ref = noise.clone()
        for t in sch.timesteps[:-1]:  # A1111 stops at t=1: no update from the last timestep
            ref = sch.step(model.eps(ref, t), t, ref, eta=0.0).prev_sample
    assert rel_diff(ours, ref) < TOLERANCE


def pndm_on_a1111_timesteps(steps: int) -> object:
    """diffusers' PNDM (skip_prk_steps) on A1111's PLMS timesteps range(0, 1000, 1000 // steps) + 1:
    PNDM repeats the second timestep (its pseudo improved Euler first step); its step size
    1000 // steps is A1111's, so only the list has to be set when 1000 // steps does not divide 1000."""
    from diffusers import PNDMScheduler

    ts = [t + 1 for t in range(0, 1000, 1000 // steps)][::-1]
    sch = PNDMScheduler(**BETAS, skip_prk_steps=True, steps_offset=1, set_alpha_to_one=False)
    sch.set_timesteps(steps)
    sch.timesteps = torch.tensor([ts[0], ts[1], ts[1], *ts[2:]])
    return sch


@pytest.mark.parametrize("steps", [10, 30])
def test_plms_matches_pndm_on_a1111s_timesteps(setup, steps):
    """10 steps (timesteps 901, 801, ..., 1) is where the demo model draws the wrong colours with
    PLMS at CFG 3: the algorithm is diffusers' PNDM exactly (see docs/SAMPLERS.md). 30 steps gives
    31 timesteps (1, 34, ..., 991), an A1111 quirk kept."""
    model, schedule, noise = setup
    sigmas = _a1111_timesteps(schedule, steps)
    ours = timestep.plms(model, noise * (1 + sigmas[0] ** 2) ** 0.5, sigmas)
    sch = pndm_on_a1111_timesteps(steps)
    if steps == 10:
        from diffusers import PNDMScheduler

        plain = PNDMScheduler(**BETAS, skip_prk_steps=True, steps_offset=1, set_alpha_to_one=False)
        plain.set_timesteps(steps)
        assert plain.timesteps.tolist() == sch.timesteps.tolist() == [901, 801, 801, 701, 601, 501, 401, 301,
                                                                     201, 101, 1]
    ref = drive(sch, noise.clone(), model, limit=len(sigmas))  # A1111: one model call per timestep
    assert rel_diff(ours, ref) < TOLERANCE

