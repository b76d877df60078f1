"""Stage 1: train the autoencoder on world images generated on the fly.

Why this recipe: the world is flat colours and sharp edges, so reconstruction (L1 + MSE) with a
very small KL term converges in minutes. Most steps use random 32×32 crops (4× cheaper, the VAE is
convolutional) and the last 15% uses whole 64×64 images so the group norms and the mid-block
attention see the statistics of real pictures. Latents are sampled from the posterior, so the
decoder learns to tolerate the small errors the UNet will make.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modules.training import world
from modules.training.stage_loop import StageBudget, lr_at, run_stage, step_seed
from modules.training.state_files import load_state, save_state

STATE_FILE = "vae_state.pt"


@dataclass(frozen=True)
class VaeSettings:
    seed: int = 0
    batch: int = 16
    lr: float = 1e-3
    warmup: int = 30
    kl_weight: float = 1e-5
    crop: int = 32
    full_size_fraction: float = 0.15  # the last part of the run uses whole images
    device: str = "cpu"


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) → float (N, 3, H, W) in [-1, 1], the VAE's input range."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def _batch(settings: VaeSettings, step: int, total: int | None) -> torch.Tensor:
    seed = step_seed(settings.seed, "vae", step)
    images = world.images_array(world.scenes(seed, settings.batch, world.all_scene_keys()))
    full = total is not None and step >= total * (1 - settings.full_size_fraction)
    if full or settings.crop >= images.shape[1]:
        return images_to_tensor(images)
    rng = random.Random(seed)
    limit = images.shape[1] - settings.crop
    crops = []
    for img in images:
        y, x = rng.randrange(0, limit + 1, 8), rng.randrange(0, limit + 1, 8)
        crops.append(img[y:y + settings.crop, x:x + settings.crop])
    return images_to_tensor(np.stack(crops))


def vae_loss(vae: Any, x: torch.Tensor, kl_weight: float, generator: torch.Generator) -> tuple[torch.Tensor, dict]:
    """Reconstruction (L1 + MSE) of a posterior sample plus a small KL; returns (loss, parts)."""
    posterior = vae.encode(x).latent_dist
    noise = torch.randn(posterior.mean.shape, generator=generator).to(x.device)
    z = posterior.mean + posterior.std * noise
    rec = vae.decode(z).sample
    l1, mse = (rec - x).abs().mean(), (rec - x).pow(2).mean()
    kl = posterior.kl().mean() / posterior.mean[0].numel()
    return l1 + mse + kl_weight * kl, {"l1": l1.item(), "kl": kl.item()}


def train_vae(vae: Any, out_dir: Path, settings: VaeSettings, budget: StageBudget, resume: bool) -> Any:
    """Train (or resume training) `vae` in place; its state goes to out_dir/vae_state.pt."""
    path = Path(out_dir) / STATE_FILE
    opt = torch.optim.AdamW(vae.parameters(), lr=settings.lr, weight_decay=0.0, betas=(0.9, 0.99))
    start, total = 0, None
    if resume and path.is_file():
        state = load_state(path)
        vae.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start, total = int(state["step"]), int(state["total"])
    vae.train()

    def step_fn(step: int, planned: int | None) -> dict[str, float]:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, planned, settings.lr, settings.warmup)
        generator = torch.Generator().manual_seed(step_seed(settings.seed, "vae-noise", step))
        x = _batch(settings, step, planned).to(settings.device)
        loss, parts = vae_loss(vae, x, settings.kl_weight, generator)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        return parts

    def save_fn(step: int, planned: int) -> None:
        save_state(path, {"model": vae.state_dict(), "optimizer": opt.state_dict(), "step": step, "total": planned})

    if total is None or start < total:
        run_stage("vae", step_fn, save_fn, budget, start, total)
    return vae.eval().requires_grad_(False)
