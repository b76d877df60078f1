"""Small pieces of the Karras-ODE arithmetic that several samplers share.

They are kept apart so that each sampler reads like the published algorithm: derivative of
the probability-flow ODE, the ancestral split of a step into a deterministic part and fresh
noise, and the "churn" that Euler/Heun/DPM2 apply when s_churn > 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

Callback = Callable[[dict[str, Any]], None]


def to_d(x: torch.Tensor, sigma: torch.Tensor, denoised: torch.Tensor) -> torch.Tensor:
    """dx/dsigma of the probability-flow ODE, given the denoiser's output."""
    return (x - denoised) / sigma


def ancestral_step(
    sigma_from: torch.Tensor, sigma_to: torch.Tensor, eta: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(sigma_down, sigma_up): step deterministically to sigma_down, then add sigma_up of noise."""
    if not eta:
        return sigma_to, torch.zeros_like(torch.as_tensor(sigma_to))
    sigma_up = torch.minimum(
        torch.as_tensor(sigma_to), eta * (sigma_to**2 * (sigma_from**2 - sigma_to**2) / sigma_from**2) ** 0.5
    )
    sigma_down = (sigma_to**2 - sigma_up**2) ** 0.5
    return sigma_down, sigma_up


def churn_gamma(sigma: torch.Tensor, steps: int, s_churn: float, s_tmin: float, s_tmax: float) -> float:
    """Karras et al.'s stochastic churn factor for one step (0 when churn is off)."""
    if s_churn <= 0 or not bool(s_tmin <= sigma <= s_tmax):  # compared in sigma's dtype, as k-diffusion
        return 0.0
    return min(s_churn / steps, 2**0.5 - 1)


def batch_sigma(x: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
    """The (B,) sigma tensor the model contract expects."""
    return x.new_ones([x.shape[0]]) * sigma


def report(
    callback: Callback | None, i: int, x: torch.Tensor, sigma: Any, sigma_hat: Any, denoised: torch.Tensor
) -> None:
    """Call the engine's per-step callback (progress, preview, interrupt) if there is one."""
    if callback is not None:
        callback({"i": i, "x": x, "sigma": sigma, "sigma_hat": sigma_hat, "denoised": denoised})


def is_zero(sigma: torch.Tensor | float) -> bool:
    return float(sigma) == 0.0


def finite(value: float) -> float:
    """A1111 stores s_tmax 0 meaning 'no upper limit'."""
    return math.inf if not value else value
