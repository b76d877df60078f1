"""Live previews without weights: a linear latent→RGB projection ("Approx cheap").

The coefficients are a least-squares fit of the VAE's decoded colour to each latent channel.
For the standard SD1/SD2 and SDXL latent spaces they are fixed, widely published numbers; for
any other latent space (the demo model, unusual VAEs) the fit is done once from the model's own
VAE encoder on a handful of flat colours, so every model gets a meaningful preview.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

SD_LATENT_RGB = ((0.298, 0.207, 0.208), (0.187, 0.286, 0.173), (-0.158, 0.189, 0.264), (-0.184, -0.271, -0.473))
SDXL_LATENT_RGB = ((0.3651, 0.4232, 0.4341), (-0.2533, -0.0042, 0.1068), (0.1076, 0.1111, -0.0362),
                   (-0.3165, -0.2492, -0.2188))


def fit_latent_rgb(vae: torch.nn.Module, scaling_factor: float, size: int = 64) -> torch.Tensor:
    """Fit a (C_latent+1, 3) affine map from latents to RGB using flat test colours."""
    colours = torch.tensor([[r, g, b] for r in (-1.0, 1.0) for g in (-1.0, 1.0) for b in (-1.0, 1.0)]
                           + [[0.0, 0.0, 0.0]])
    images = colours[:, :, None, None].expand(-1, 3, size, size)
    param = next(vae.parameters())
    with torch.no_grad():
        latents = vae.encode(images.to(param)).latent_dist.mean.float() * scaling_factor
    feats = latents.mean(dim=(2, 3))
    design = torch.cat([feats, torch.ones(len(feats), 1)], dim=1)
    return torch.linalg.lstsq(design, colours).solution


def latent_to_rgb_matrix(latent_channels: int, is_sdxl: bool) -> torch.Tensor:
    """The published (C+1, 3) map for standard 4-channel latent spaces."""
    if latent_channels != 4:
        raise ValueError(f"no fixed preview coefficients for {latent_channels}-channel latents")
    m = torch.tensor(SDXL_LATENT_RGB if is_sdxl else SD_LATENT_RGB)
    return torch.cat([m, torch.zeros(1, 3)], dim=0)


def cheap_preview(latent: torch.Tensor, matrix: torch.Tensor) -> Image.Image:
    """Project one (C, h, w) latent to a small RGB image."""
    c = latent.shape[0]
    rgb = torch.einsum("chw,cr->rhw", latent.float().cpu(), matrix[:c]) + matrix[c][:, None, None]
    arr = ((rgb.clamp(-1, 1) + 1) * 127.5).permute(1, 2, 0).numpy().astype(np.uint8)
    return Image.fromarray(arr)
