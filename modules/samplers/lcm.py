"""LCM (Latent Consistency Models, Luo et al. 2023), as A1111's LCM sampler runs it.

An LCM checkpoint was distilled on 50 of the 1000 timesteps (19, 39, ..., 999). A1111
therefore uses a 50-entry schedule for LCM: sigmas of those timesteps, sigma -> t rounds to the
nearest of them, and the "Automatic" schedule is spread over them. Each step predicts x0,
applies the consistency boundary condition (c_skip, c_out at 10 x timestep, sigma_data 0.5),
and re-noises to the next sigma with fresh noise.

Under the common contract the model is the plain k-diffusion denoiser. To give the UNet
A1111's exact input (x * c_in(sigma)) at A1111's quantised timestep, the latent is rescaled
for a call at that timestep's table sigma and the result turned back into a noise prediction.
(Inpainting masks blended inside the engine's denoiser are therefore applied before the
boundary condition rather than after, a small difference from A1111 when the schedule's
sigmas fall between LCM timesteps.)
"""

from __future__ import annotations

from typing import Any

import torch

from modules.samplers.discretization import DiscreteSchedule, append_zero
from modules.samplers.kdiffusion import DEFAULT_OPTIONS, Model, NoiseFn, default_noise
from modules.samplers.options import SamplerOptions
from modules.samplers.sampling_math import Callback, batch_sigma, report

LCM_ORIGINAL_STEPS = 50
SIGMA_DATA = 0.5
TIMESTEP_SCALING = 10.0


class LcmSchedule(DiscreteSchedule):
    """The 50-timestep schedule LCM models were distilled on, built from the full model schedule."""

    def __init__(self, base: DiscreteSchedule, original_steps: int = LCM_ORIGINAL_STEPS) -> None:
        total = base.num_timesteps
        self.skip_steps = total // original_steps
        picks = [total - 1 - x * self.skip_steps for x in range(original_steps)][::-1]
        super().__init__(base.alphas_cumprod[picks])
        self.base = base

    def sigma_to_t(self, sigma: torch.Tensor | float, quantize: bool | None = None) -> torch.Tensor:
        """Always the nearest LCM timestep (19 + 20k for 1000 training steps)."""
        sigma = torch.as_tensor(sigma, dtype=torch.float32)
        log_sigmas = self.log_sigmas.to(sigma.device)
        dists = sigma.log() - (log_sigmas[:, None] if sigma.ndim else log_sigmas)
        index = dists.abs().argmin(dim=0).view(sigma.shape)
        return index * self.skip_steps + (self.skip_steps - 1)

    def t_to_sigma(self, t: torch.Tensor | float) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=torch.float32)
        index = ((t - (self.skip_steps - 1)) / self.skip_steps).clamp(0, self.num_timesteps - 1)
        return super().t_to_sigma(index)

    def get_sigmas(self, n: int | None = None) -> torch.Tensor:
        if n is None:
            return append_zero(self.sigmas.flip(0))
        start, end = self.sigma_to_t(self.sigma_max), self.sigma_to_t(self.sigma_min)
        return append_zero(self.t_to_sigma(torch.linspace(float(start), float(end), n)))


def as_lcm_schedule(schedule: DiscreteSchedule) -> LcmSchedule:
    return schedule if isinstance(schedule, LcmSchedule) else LcmSchedule(schedule)


def boundary_scalings(timestep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Consistency-model (c_skip, c_out) at a timestep, with LCM's timestep scaling of 10."""
    scaled = timestep.float() * TIMESTEP_SCALING
    c_skip = SIGMA_DATA**2 / (scaled**2 + SIGMA_DATA**2)
    c_out = scaled / (scaled**2 + SIGMA_DATA**2) ** 0.5
    return c_skip, c_out


def lcm_denoise(
    model: Model, x: torch.Tensor, sigma: torch.Tensor, lcm: LcmSchedule, extra_args: dict[str, Any]
) -> torch.Tensor:
    """A1111's LCM denoiser output at `sigma` through the plain denoiser contract."""
    timestep = lcm.sigma_to_t(sigma)
    sigma_q = lcm.base.sigmas[int(timestep)]
    unet_in = x / (sigma**2 + 1) ** 0.5
    x_q = unet_in * (sigma_q**2 + 1) ** 0.5
    eps = (x_q - model(x_q, batch_sigma(x_q, sigma_q), **extra_args)) / sigma_q
    c_skip, c_out = boundary_scalings(timestep)
    return c_out * (x - sigma * eps) + c_skip * x


@torch.no_grad()
def lcm(
    model: Model,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseFn | None = None,
    options: SamplerOptions = DEFAULT_OPTIONS,
) -> torch.Tensor:
    """One consistency step per sigma: predict x0, then re-noise to the next sigma."""
    extra_args = extra_args or {}
    schedule = as_lcm_schedule(options.require_schedule("LCM"))
    noise = default_noise(x, noise_sampler)
    for i in range(len(sigmas) - 1):
        denoised = lcm_denoise(model, x, sigmas[i], schedule, extra_args)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        x = denoised
        if sigmas[i + 1] > 0:
            x = x + sigmas[i + 1] * noise(sigmas[i], sigmas[i + 1])
    return x
