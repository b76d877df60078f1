"""A discrete-time diffusion model seen as a continuous sigma schedule (k-diffusion style).

Why: every sampler here works in "k-diffusion space", x = x0 + sigma * noise, while the UNet
was trained on 1000 discrete timesteps with `alphas_cumprod`. This class is the bridge: it
turns timesteps into sigmas and back (interpolating log-sigma linearly between neighbouring
timesteps, as A1111's CompVisDenoiser does unless quantisation is on) and gives the input /
output scalings that turn an epsilon- or v-predicting UNet into a denoiser
`D(x, sigma) = c_skip * x + c_out * F(c_in * x, t(sigma))`.
"""

from __future__ import annotations

import torch

PREDICTION_TYPES = ("epsilon", "v_prediction")


def append_zero(sigmas: torch.Tensor) -> torch.Tensor:
    """Samplers end at sigma 0, the clean image."""
    return torch.cat([sigmas, sigmas.new_zeros([1])])


def check_prediction_type(prediction_type: str) -> str:
    if prediction_type not in PREDICTION_TYPES:
        raise ValueError(
            f"Unknown prediction type {prediction_type!r}: use 'epsilon' (SD1.x, SD2 512, SDXL) "
            "or 'v_prediction' (SD2 768-v); a checkpoint's yaml sets it with parameterization: v"
        )
    return prediction_type


class DiscreteSchedule:
    """Sigmas of a model's training timesteps, with conversions and the model's own schedule.

    `sigmas` is ascending (index = timestep), as in k-diffusion: `sigmas[0]` is the smallest.
    """

    def __init__(self, alphas_cumprod: torch.Tensor, *, quantize: bool = False) -> None:
        ac = torch.as_tensor(alphas_cumprod).detach().to(device="cpu", dtype=torch.float32)
        if ac.ndim != 1 or ac.numel() < 2:
            raise ValueError(
                f"alphas_cumprod must be a 1-D tensor of the training timesteps, got shape {tuple(ac.shape)}"
            )
        if not bool(((ac > 0) & (ac < 1)).all()):
            raise ValueError(
                "alphas_cumprod values must lie strictly between 0 and 1; a zero-terminal-SNR schedule "
                "(alphas_cumprod[-1] == 0) has an infinite top sigma and is not supported here"
            )
        self.alphas_cumprod = ac
        self.sigmas = ((1 - ac) / ac) ** 0.5
        self.log_sigmas = self.sigmas.log()
        self.quantize = quantize

    @property
    def sigma_min(self) -> torch.Tensor:
        return self.sigmas[0]

    @property
    def sigma_max(self) -> torch.Tensor:
        return self.sigmas[-1]

    @property
    def num_timesteps(self) -> int:
        return int(self.sigmas.numel())

    def sigma_to_t(self, sigma: torch.Tensor | float, quantize: bool | None = None) -> torch.Tensor:
        """Fractional timestep for a sigma (log-sigma interpolation), or the nearest one if quantising."""
        sigma = torch.as_tensor(sigma, dtype=torch.float32)
        log_sigmas = self.log_sigmas.to(sigma.device)
        log_sigma = sigma.log()
        dists = log_sigma - log_sigmas[:, None] if sigma.ndim else log_sigma - log_sigmas
        if self.quantize if quantize is None else quantize:
            return dists.abs().argmin(dim=0).view(sigma.shape)
        low_idx = dists.ge(0).cumsum(dim=0).argmax(dim=0).clamp(max=log_sigmas.numel() - 2)
        high_idx = low_idx + 1
        low, high = log_sigmas[low_idx], log_sigmas[high_idx]
        w = ((low - log_sigma) / (low - high)).clamp(0, 1)
        t = (1 - w) * low_idx + w * high_idx
        return t.view(sigma.shape)

    def t_to_sigma(self, t: torch.Tensor | float) -> torch.Tensor:
        """Sigma at a (fractional) timestep, interpolating log-sigma between neighbours."""
        t = torch.as_tensor(t, dtype=torch.float32)
        log_sigmas = self.log_sigmas.to(t.device)
        low_idx, high_idx, w = t.floor().long(), t.ceil().long(), t.frac()
        return ((1 - w) * log_sigmas[low_idx] + w * log_sigmas[high_idx]).exp()

    def get_sigmas(self, n: int | None = None) -> torch.Tensor:
        """The model's own ("Automatic") schedule: n sigmas at t = linspace(T-1, 0, n), then 0."""
        if n is None:
            return append_zero(self.sigmas.flip(0))
        t = torch.linspace(self.num_timesteps - 1, 0, n)
        return append_zero(self.t_to_sigma(t))

    def timestep_sigma(self, timestep: int) -> torch.Tensor:
        """Exact sigma of an integer training timestep."""
        return self.sigmas[int(timestep)]

    @staticmethod
    def scalings(
        sigma: torch.Tensor, prediction_type: str
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(c_skip, c_out, c_in) so that denoised = c_skip * x + c_out * unet(c_in * x, t)."""
        sigma = torch.as_tensor(sigma)
        c_in = 1 / (sigma**2 + 1) ** 0.5
        if check_prediction_type(prediction_type) == "epsilon":
            return torch.ones_like(sigma), -sigma, c_in
        c_skip = 1 / (sigma**2 + 1)
        c_out = -sigma / (sigma**2 + 1) ** 0.5
        return c_skip, c_out, c_in


def denoised_from_output(
    x: torch.Tensor, sigma: torch.Tensor, model_output: torch.Tensor, prediction_type: str
) -> torch.Tensor:
    """Apply the output scalings to a UNet prediction (sigma shaped (B,) or scalar)."""
    c_skip, c_out, _ = DiscreteSchedule.scalings(sigma, prediction_type)
    shape = (-1,) + (1,) * (x.ndim - 1)
    c_skip = c_skip.reshape(shape) if c_skip.ndim else c_skip
    c_out = c_out.reshape(shape) if c_out.ndim else c_out
    return c_skip * x + c_out * model_output
