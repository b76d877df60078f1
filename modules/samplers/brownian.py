"""Brownian-tree noise for the SDE samplers (DPM++ SDE, 2M SDE, 3M SDE).

Why a Brownian tree: SDE samplers need noise increments W(sigma_next) - W(sigma) that are
consistent however the interval is subdivided (DPM++ SDE queries a midpoint too). A1111
builds one tree per image, seeded with that image's seed, so a picture does not change with
the batch it was generated in; this does the same, with torchsde's `BrownianTree` exactly as
k-diffusion drives it so A1111 seeds reproduce.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
import torchsde


class BrownianTreeNoiseSampler:
    """`noise_sampler(sigma, sigma_next)` returning unit-variance Brownian increments, shape of x.

    `seeds` has one entry per image of the batch (A1111's `current_iter_seeds`). The tree
    lives on x's device, as in upstream k-diffusion.
    """

    def __init__(
        self,
        x: torch.Tensor,
        sigma_min: torch.Tensor | float,
        sigma_max: torch.Tensor | float,
        seeds: Sequence[int],
    ) -> None:
        if len(seeds) != x.shape[0]:
            raise ValueError(
                f"BrownianTreeNoiseSampler needs one seed per image: got {len(seeds)} seeds "
                f"for a batch of {x.shape[0]}"
            )
        t0, t1 = torch.as_tensor(sigma_min), torch.as_tensor(sigma_max)
        if not float(t0) < float(t1):
            raise ValueError(f"Brownian tree needs sigma_min < sigma_max, got {float(t0)} and {float(t1)}")
        self.device = x.device
        w0 = torch.zeros_like(x[0])
        self.trees = [
            torchsde.BrownianTree(t0.to(x.device), w0, t1.to(x.device), entropy=int(s)) for s in seeds
        ]

    def __call__(self, sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
        a, b = torch.as_tensor(sigma), torch.as_tensor(sigma_next)
        sign = 1.0
        if float(a) > float(b):
            a, b, sign = b, a, -1.0
        a, b = a.to(self.device), b.to(self.device)
        with warnings.catch_warnings():
            # The schedule's float32 end points round a hair outside the tree's float64 interval;
            # torchsde warns on every query (as it does under k-diffusion) but the values are fine.
            warnings.filterwarnings("ignore", message="Should have t")
            w = torch.stack([tree(a, b) for tree in self.trees]) * sign
        return w / (b - a).abs().sqrt()
