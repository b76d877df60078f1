"""Stage 2 data: a fixed, seeded dataset encoded once by the frozen VAE.

Why cache: encoding 64×64 images costs more than a UNet step on 8×8 latents, and the VAE no longer
changes. The posterior mean and std are kept so each UNet step draws a fresh latent sample (a free
augmentation). The scale factor that gives the training latents unit standard deviation is
measured here and written into the model's yaml as `scale_factor`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from modules.training import world
from modules.training.captions import token_rows
from modules.training.state_files import load_state, save_state
from modules.training.vae_stage import images_to_tensor

CACHE_FILE = "latents.pt"


@dataclass
class LatentDataset:
    mean: torch.Tensor  # (N, C, h, w), unscaled posterior means
    std: torch.Tensor  # (N, C, h, w)
    tokens: torch.Tensor  # (N, 77) int64
    scale_factor: float

    def __len__(self) -> int:
        return int(self.mean.shape[0])


@torch.no_grad()
def encode_dataset(vae: Any, tokenizer: Any, seed: int, per_key: int, batch: int = 64,
                   device: str = "cpu") -> LatentDataset:
    """Render `per_key` placements of every training scene, encode them, measure the scale factor."""
    items = world.balanced_scenes(seed, per_key)
    means, stds = [], []
    for i in range(0, len(items), batch):
        x = images_to_tensor(world.images_array(items[i:i + batch])).to(device)
        posterior = vae.encode(x).latent_dist
        means.append(posterior.mean.float().cpu())
        stds.append(posterior.std.float().cpu())
    mean, std = torch.cat(means), torch.cat(stds)
    generator = torch.Generator().manual_seed(seed)
    sample = mean + std * torch.randn(mean.shape, generator=generator)
    scale = float(1.0 / sample.std())
    return LatentDataset(mean, std, token_rows(tokenizer, [s.caption for s in items]), scale)


def load_or_encode(out_dir: Path, vae: Any, tokenizer: Any, seed: int, per_key: int,
                   device: str = "cpu") -> LatentDataset:
    """The cached dataset of this run, encoding it on first use."""
    path = Path(out_dir) / CACHE_FILE
    if path.is_file():
        s = load_state(path)
        if s["seed"] == seed and s["per_key"] == per_key:
            return LatentDataset(s["mean"], s["std"], s["tokens"], float(s["scale_factor"]))
    data = encode_dataset(vae, tokenizer, seed, per_key, device=device)
    save_state(path, {"mean": data.mean, "std": data.std, "tokens": data.tokens,
                      "scale_factor": data.scale_factor,
                      "seed": seed, "per_key": per_key})
    return data
