"""Stage 3: train the UNet and the text encoder together on the cached latents.

The recipe is SD1's: epsilon prediction on the scaled-linear schedule (betas 0.00085–0.012, 1000
steps), so the app's normal SD1 path samples it. Additions that make a few thousand CPU steps
enough: min-SNR-γ loss weighting (γ=5; faster convergence), a small offset noise (the world is
mostly flat backgrounds, including white and black, whose overall brightness plain noise hides),
10% empty captions for classifier-free guidance, and an EMA of the weights, which is what ships.
A finished run can be extended (`--resume --steps-unet N` with N above its step count): a new
warm-up + cosine phase from the saved weights, optimizer and EMA, optionally with more samples
at the noisiest timesteps (`high_noise_fraction`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from modules.models.loader import alphas_cumprod
from modules.training.captions import empty_row
from modules.training.latent_cache import LatentDataset
from modules.training.stage_loop import StageBudget, lr_at, run_stage, step_seed
from modules.training.state_files import load_state, save_state

STATE_FILE = "unet_state.pt"
LINEAR_START, LINEAR_END, TIMESTEPS = 0.00085, 0.012, 1000


@dataclass(frozen=True)
class UnetSettings:
    seed: int = 0
    batch: int = 64
    lr: float = 1e-3
    warmup: int = 50
    cfg_dropout: float = 0.1
    min_snr_gamma: float = 5.0
    noise_offset: float = 0.05
    ema_decay: float = 0.995
    high_noise_fraction: float = 0.0  # share of each batch drawn from t >= high_noise_start
    high_noise_start: int = 800
    device: str = "cpu"


class Ema:
    """Exponential moving average of parameters (with the usual short warm-up of the decay)."""

    def __init__(self, modules: dict[str, torch.nn.Module], decay: float) -> None:
        self.modules, self.decay = modules, decay
        self.shadow = {f"{n}.{k}": p.detach().clone()
                       for n, m in modules.items() for k, p in m.named_parameters()}

    @torch.no_grad()
    def update(self, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        for n, m in self.modules.items():
            for k, p in m.named_parameters():
                self.shadow[f"{n}.{k}"].lerp_(p.detach(), 1 - decay)

    @torch.no_grad()
    def copy_to_modules(self) -> None:
        for n, m in self.modules.items():
            for k, p in m.named_parameters():
                p.copy_(self.shadow[f"{n}.{k}"])


def diffusion_loss(unet: Any, text_encoder: Any, z0: torch.Tensor, tokens: torch.Tensor,
                   settings: UnetSettings,
                   alphas: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Min-SNR-weighted epsilon MSE at uniformly drawn timesteps (some forced high, see below)."""
    n = z0.shape[0]
    t = _timesteps(n, alphas.shape[0], settings, generator)
    noise = torch.randn(z0.shape, generator=generator)
    noise = noise + settings.noise_offset * torch.randn((n, z0.shape[1], 1, 1), generator=generator)
    device = settings.device
    z0, tokens, noise, t = z0.to(device), tokens.to(device), noise.to(device), t.to(device)
    a = alphas.to(device)[t].view(n, 1, 1, 1)
    x_t = a.sqrt() * z0 + (1 - a).sqrt() * noise
    cond = text_encoder(input_ids=tokens).last_hidden_state
    pred = unet(x_t, t, encoder_hidden_states=cond).sample
    snr = (a / (1 - a)).view(n)
    weight = torch.clamp(snr, max=settings.min_snr_gamma) / snr
    return (weight * (pred - noise).pow(2).mean(dim=(1, 2, 3))).mean()


def _timesteps(n: int, count: int, settings: UnetSettings, generator: torch.Generator) -> torch.Tensor:
    """Uniform timesteps, with a share redrawn from the noisiest range.

    Why: with epsilon prediction a wrong global colour costs almost nothing in the loss at the
    noisiest steps (the error is scaled by sqrt(alpha_bar) ≈ 0.07), yet those are the only steps
    where the caption alone decides the background; at lower noise the model reads it from the
    input. Drawing more samples there makes the caption → background link learn faster.
    """
    t = torch.randint(0, count, (n,), generator=generator)
    k = round(n * settings.high_noise_fraction)
    if k > 0:  # only then, so runs without it draw exactly the same numbers as before
        t[:k] = torch.randint(settings.high_noise_start, count, (k,), generator=generator)
    return t


def _batch(data: LatentDataset, settings: UnetSettings,
           generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    idx = torch.randint(0, len(data), (settings.batch,), generator=generator)
    mean, std = data.mean[idx], data.std[idx]
    z0 = (mean + std * torch.randn(mean.shape, generator=generator)) * data.scale_factor
    tokens = data.tokens[idx].clone()
    drop = torch.rand(settings.batch, generator=generator) < settings.cfg_dropout
    tokens[drop] = empty_row()
    return z0, tokens


def train_unet(unet: Any, text_encoder: Any, data: LatentDataset, out_dir: Path, settings: UnetSettings,
               budget: StageBudget, resume: bool) -> None:
    """Train both modules in place; at the end they hold the EMA weights (what ships)."""
    path = Path(out_dir) / STATE_FILE
    params = list(unet.parameters()) + list(text_encoder.parameters())
    opt = torch.optim.AdamW(params, lr=settings.lr, weight_decay=0.0, betas=(0.9, 0.99))
    ema = Ema({"unet": unet, "text": text_encoder}, settings.ema_decay)
    start, total, phase_start = 0, None, 0
    if resume and path.is_file():
        start, total, phase_start = _restore(load_state(path), unet, text_encoder, opt, ema)
        if budget.steps is not None and budget.steps > total:
            phase_start, total = start, budget.steps  # extension: a new warm-up + cosine phase
    alphas = alphas_cumprod(LINEAR_START, LINEAR_END, TIMESTEPS)
    unet.train()
    text_encoder.train()

    def step_fn(step: int, planned: int | None) -> dict[str, float]:
        for group in opt.param_groups:
            length = None if planned is None else planned - phase_start
            group["lr"] = lr_at(step - phase_start, length, settings.lr, settings.warmup)
        generator = torch.Generator().manual_seed(step_seed(settings.seed, "unet", step))
        z0, tokens = _batch(data, settings, generator)
        loss = diffusion_loss(unet, text_encoder, z0, tokens, settings, alphas, generator)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        ema.update(step)
        return {"loss": loss.item()}

    def save_fn(step: int, planned: int) -> None:
        save_state(path, {"unet": unet.state_dict(), "text": text_encoder.state_dict(), "ema": ema.shadow,
                          "optimizer": opt.state_dict(), "step": step, "total": planned,
                          "phase_start": phase_start})

    if total is None or start < total:
        run_stage("unet", step_fn, save_fn, budget, start, total)
    ema.copy_to_modules()
    unet.eval().requires_grad_(False)
    text_encoder.eval().requires_grad_(False)


def _restore(state: dict[str, Any], unet: Any, text_encoder: Any, opt: Any, ema: Ema) -> tuple[int, int, int]:
    unet.load_state_dict(state["unet"])
    text_encoder.load_state_dict(state["text"])
    opt.load_state_dict(state["optimizer"])
    ema.shadow = {k: v.clone() for k, v in state["ema"].items()}
    return int(state["step"]), int(state["total"]), int(state.get("phase_start", 0))
