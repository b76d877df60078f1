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
    lr: float = 2e-3
    warmup: int = 30
    kl_weight: float = 1e-5
    initial_log_variance: float = -5.0  # start with little posterior noise (see below)
    crop: int = 32
    full_size_fraction: float = 0.15  # the last part of the run uses whole images
    device: str = "cpu"


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) → float (N, 3, H, W) in [-1, 1], the VAE's input range."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def _crop_origin(rng: random.Random, centre: float, side: int, crop: int) -> int:
    """A crop origin that keeps the shape's centre inside the crop's middle half.

    Crops must show both colours: the decoder's last group norm sees one channel per group at 32
    channels, so a flat crop would normalise to nothing and could never be reconstructed.
    """
    origin = round(centre * side - crop / 2 + rng.uniform(-crop / 4, crop / 4))
    return max(0, min(side - crop, origin))


def _batch(settings: VaeSettings, step: int, total: int | None) -> torch.Tensor:
    seed = step_seed(settings.seed, "vae", step)
    items = world.scenes(seed, settings.batch, world.all_scene_keys())
    images = world.images_array(items)
    full = total is not None and step >= total * (1 - settings.full_size_fraction)
    if full or settings.crop >= images.shape[1]:
        return images_to_tensor(images)
    rng = random.Random(seed)
    side, crop = images.shape[1], settings.crop
    crops = []
    for scene, img in zip(items, images):
        y, x = _crop_origin(rng, scene.centre[1], side, crop), _crop_origin(rng, scene.centre[0], side, crop)
        crops.append(img[y:y + crop, x:x + crop])
    return images_to_tensor(np.stack(crops))


def vae_loss(vae: Any, x: torch.Tensor, kl_weight: float,
             generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
    """Reconstruction (L1 + MSE) of a posterior sample plus a small KL; returns (loss, parts)."""
    posterior = vae.encode(x).latent_dist
    noise = torch.randn(posterior.mean.shape, generator=generator).to(x.device)
    z = posterior.mean + posterior.std * noise
    rec = vae.decode(z).sample
    l1, mse = (rec - x).abs().mean(), (rec - x).pow(2).mean()
    kl = posterior.kl().mean() / posterior.mean[0].numel()
    return l1 + mse + kl_weight * kl, {"l1": l1.item(), "kl": kl.item()}


@torch.no_grad()
def _quiet_posterior(vae: Any, log_variance: float) -> None:
    """Shift the encoder's log-variance outputs down: with the default (variance 1) the decoder
    first sees latents drowned in sampling noise and learns nothing for hundreds of steps."""
    channels = vae.config.latent_channels
    vae.encoder.conv_out.bias[channels:] += log_variance


def train_vae(vae: Any, out_dir: Path, settings: VaeSettings, budget: StageBudget, resume: bool) -> Any:
    """Train (or resume training) `vae` in place; its state goes to out_dir/vae_state.pt."""
    path = Path(out_dir) / STATE_FILE
    opt = torch.optim.AdamW(vae.parameters(), lr=settings.lr, weight_decay=0.0, betas=(0.9, 0.99))
    start, total = 0, None
    if not (resume and path.is_file()):
        _quiet_posterior(vae, settings.initial_log_variance)
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
        save_state(path, {"model": vae.state_dict(), "optimizer": opt.state_dict(), "step": step,
                          "total": planned})

    if total is None or start < total:
        full_cost = (world.NATIVE_SIZE / settings.crop) ** 2
        f = settings.full_size_fraction
        run_stage("vae", step_fn, save_fn, budget, start, total, average_cost=(1 - f) + f * full_cost)
    return vae.eval().requires_grad_(False)
