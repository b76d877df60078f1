"""A self-contained Euler sampler with classifier-free guidance, for evaluating the demo model.

Why our own loop here instead of the engine: training and its evaluation must not depend on the
app's generation stack (which is tested *with* this model); this is the plain k-diffusion Euler
method on the model's discrete sigmas, with A1111's seeding (CPU randn of the latent shape).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from modules.models.sd_model import LoadedModel
from modules.training.captions import empty_row, token_rows


def model_sigmas(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    return ((1 - alphas_cumprod) / alphas_cumprod).sqrt()


def euler_schedule(alphas_cumprod: torch.Tensor, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(sigmas with a final 0, matching timesteps): timesteps evenly spaced from the last to 0."""
    log_sigmas = model_sigmas(alphas_cumprod).log()
    t = torch.linspace(len(alphas_cumprod) - 1, 0, steps, dtype=torch.float64)
    low, frac = t.floor().long(), (t - t.floor()).float()
    high = (low + 1).clamp(max=len(log_sigmas) - 1)
    sigmas = ((1 - frac) * log_sigmas[low] + frac * log_sigmas[high]).exp()
    return torch.cat([sigmas, sigmas.new_zeros(1)]), t.float()


@torch.no_grad()
def _conditioning(model: LoadedModel, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    bundle = model.text_encoders[0]
    tokens = token_rows(bundle.tokenizer, prompts)
    cond = bundle.model(input_ids=tokens).last_hidden_state
    uncond = bundle.model(input_ids=empty_row()[None]).last_hidden_state.expand_as(cond)
    return cond, uncond


@torch.no_grad()
def sample(model: LoadedModel, prompts: Sequence[str], seeds: Sequence[int], steps: int = 20,
           cfg_scale: float = 5.0,
           size: int = 64) -> list[np.ndarray]:
    """One uint8 (size, size, 3) picture per (prompt, seed) pair."""
    if len(prompts) != len(seeds):
        raise ValueError(f"Give one seed per prompt ({len(prompts)} prompts, {len(seeds)} seeds).")
    down = model.vae_downscale
    shape = (model.latent_channels, size // down, size // down)
    noise = torch.stack([torch.randn(shape, generator=torch.Generator().manual_seed(int(s))) for s in seeds])
    sigmas, timesteps = euler_schedule(model.alphas_cumprod, steps)
    cond, uncond = _conditioning(model, prompts)
    x = noise * sigmas[0]
    for i in range(steps):
        sigma = sigmas[i]
        x_in = torch.cat([x, x]) / (sigma**2 + 1).sqrt()
        eps = model.unet(x_in, timesteps[i], encoder_hidden_states=torch.cat([cond, uncond])).sample
        eps_c, eps_u = eps.chunk(2)
        denoised = x - sigma * (eps_u + cfg_scale * (eps_c - eps_u))
        x = x + (x - denoised) / sigma * (sigmas[i + 1] - sigma)
    images = model.vae.decode(x / model.vae_scaling_factor).sample
    return [(img.permute(1, 2, 0).clamp(-1, 1).add(1).mul(127.5).round().byte().numpy()) for img in images]
