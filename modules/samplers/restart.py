"""The Restart sampler (Xu et al. 2023, "Restart Sampling for Improving Generative Processes").

Heun steps down the schedule; at sigma ~0.1 the sampler jumps back up to sigma ~2 by adding
fresh noise and walks down again on a Karras sub-schedule. With 20+ steps A1111 spends 9 of
them (or steps//4 twice, from 36 steps) on the restart and rebuilds the main schedule as
Karras with the remaining steps; the same rules apply here so results match.
"""

from __future__ import annotations

from typing import Any

import torch

from modules.samplers.kdiffusion import DEFAULT_OPTIONS, Model, NoiseFn, default_noise
from modules.samplers.options import SamplerOptions
from modules.samplers.sampling_math import Callback, batch_sigma, is_zero, report, to_d
from modules.samplers.schedulers import karras_sigmas

RestartList = dict[float, tuple[int, int, float]]


def default_restart_plan(sigmas: torch.Tensor) -> tuple[torch.Tensor, RestartList]:
    """A1111's automatic restart settings for a schedule of len(sigmas)-1 steps."""
    steps = sigmas.shape[0] - 1
    if steps < 20:
        return sigmas, {}
    restart_steps, restart_times = 9, 1
    if steps >= 36:
        restart_steps, restart_times = steps // 4, 2
    main = karras_sigmas(steps - restart_steps * restart_times, float(sigmas[-2]), float(sigmas[0]))
    return main.to(sigmas.device), {0.1: (restart_steps + 1, restart_times, 2.0)}


def restart_step_list(
    sigmas: torch.Tensor, restart_list: RestartList
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(sigma_from, sigma_to) pairs of the whole walk, restarts spliced in after their sigma."""
    by_index = {int(torch.argmin(abs(sigmas - key), dim=0)): value for key, value in restart_list.items()}
    steps: list[tuple[torch.Tensor, torch.Tensor]] = []
    for i in range(len(sigmas) - 1):
        steps.append((sigmas[i], sigmas[i + 1]))
        if i + 1 not in by_index:
            continue
        restart_steps, restart_times, restart_max = by_index[i + 1]
        min_idx = i + 1
        max_idx = int(torch.argmin(abs(sigmas - restart_max), dim=0))
        if max_idx < min_idx:
            sub = karras_sigmas(restart_steps, float(sigmas[min_idx]), float(sigmas[max_idx]))[:-1].to(
                sigmas.device
            )
            for _ in range(restart_times):
                steps.extend(zip(sub[:-1], sub[1:], strict=True))
    return steps


@torch.no_grad()
def restart(
    model: Model,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    extra_args: dict[str, Any] | None = None,
    callback: Callback | None = None,
    noise_sampler: NoiseFn | None = None,
    options: SamplerOptions = DEFAULT_OPTIONS,
    restart_list: RestartList | None = None,
) -> torch.Tensor:
    """Restart sampling; `restart_list` maps min sigma -> (steps, times, max sigma), None = automatic."""
    extra_args = extra_args or {}
    noise = default_noise(x, noise_sampler)
    if restart_list is None:
        sigmas, restart_list = default_restart_plan(sigmas)
    last_sigma = None
    for step_id, (old_sigma, new_sigma) in enumerate(restart_step_list(sigmas, restart_list)):
        if last_sigma is not None and last_sigma < old_sigma:
            x = x + noise(old_sigma, last_sigma) * options.s_noise * (old_sigma**2 - last_sigma**2) ** 0.5
        x = _heun_step(model, x, old_sigma, new_sigma, extra_args, callback, step_id)
        last_sigma = new_sigma
    return x


def _heun_step(
    model: Model,
    x: torch.Tensor,
    old_sigma: torch.Tensor,
    new_sigma: torch.Tensor,
    extra_args: dict[str, Any],
    callback: Callback | None,
    step_id: int,
) -> torch.Tensor:
    denoised = model(x, batch_sigma(x, old_sigma), **extra_args)
    d = to_d(x, old_sigma, denoised)
    report(callback, step_id, x, new_sigma, old_sigma, denoised)
    dt = new_sigma - old_sigma
    if is_zero(new_sigma):
        return x + d * dt
    x_2 = x + d * dt
    denoised_2 = model(x_2, batch_sigma(x, new_sigma), **extra_args)
    return x + (d + to_d(x_2, new_sigma, denoised_2)) / 2 * dt
