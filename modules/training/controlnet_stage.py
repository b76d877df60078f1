"""Train a ControlNet for the demo model: the control is the white silhouette of the shape.

Why this control: it shows what ControlNet is for (pinning down where things go) in a world a
program can check. The frozen demo model only ever saw shapes near the centre; the ControlNet is
trained on shapes placed anywhere in the middle 70 % of the picture, so following the silhouette
is something only the control can teach. The recipe is lllyasviel's at toy scale: a copy of the
UNet's encoder (diffusers' `ControlNetModel.from_unet`) with zero-initialised output convolutions,
epsilon loss through the frozen UNet, 30 % empty captions so the control works without a prompt.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modules.training import world
from modules.training.captions import empty_row, token_rows
from modules.training.stage_loop import StageBudget, lr_at, run_stage, step_seed
from modules.training.state_files import load_state, save_state
from modules.training.vae_stage import images_to_tensor

STATE_FILE = "controlnet_state.pt"
PLACEMENT = (0.2, 0.8)  # centre range (fraction of the side) of the training shapes
HALF_SIZE = (9 / 64, 14 / 64)


@dataclass(frozen=True)
class ControlNetSettings:
    seed: int = 0
    batch: int = 32
    lr: float = 5e-4
    warmup: int = 30
    cfg_dropout: float = 0.3
    min_snr_gamma: float = 5.0
    per_key: int = 12


@dataclass
class ControlDataset:
    mean: torch.Tensor  # (N, 4, 8, 8) posterior means (unscaled)
    std: torch.Tensor
    tokens: torch.Tensor  # (N, 77)
    hints: torch.Tensor  # (N, 3, 64, 64) uint8 silhouettes
    scale_factor: float

    def __len__(self) -> int:
        return int(self.mean.shape[0])


def placed_scene(rng: random.Random, key: tuple[str, str, str]) -> world.Scene:
    """A scene whose shape may sit anywhere in the middle of the picture."""
    centre = (rng.uniform(*PLACEMENT), rng.uniform(*PLACEMENT))
    return world.Scene(*key, centre=centre, half_size=rng.uniform(*HALF_SIZE))


def silhouette(scene: world.Scene, size: int = world.NATIVE_SIZE) -> np.ndarray:
    """The control image: the shape in white on black, (size, size, 3) uint8."""
    cover = world.shape_mask(scene.shape, scene.centre, scene.half_size, size)
    return np.repeat(np.rint(cover * 255.0).astype(np.uint8)[..., None], 3, axis=2)


@torch.no_grad()
def build_dataset(vae: Any, tokenizer: Any, scale_factor: float, seed: int, per_key: int,
                  batch: int = 64) -> ControlDataset:
    rng = random.Random(seed)
    scenes = [placed_scene(rng, k) for k in world.training_scene_keys() for _ in range(per_key)]
    rng.shuffle(scenes)
    means, stds = [], []
    for i in range(0, len(scenes), batch):
        x = images_to_tensor(world.images_array(scenes[i:i + batch]))
        posterior = vae.encode(x.to(next(vae.parameters()).dtype)).latent_dist
        means.append(posterior.mean.float())
        stds.append(posterior.std.float())
    hints = torch.from_numpy(np.stack([silhouette(s) for s in scenes])).permute(0, 3, 1, 2).contiguous()
    return ControlDataset(torch.cat(means), torch.cat(stds), token_rows(tokenizer, [s.caption for s in scenes]),
                          hints, scale_factor)


def load_or_build(out_dir: Path, vae: Any, tokenizer: Any, scale_factor: float, seed: int,
                  per_key: int) -> ControlDataset:
    path = Path(out_dir) / "control_latents.pt"
    if path.is_file():
        s = load_state(path)
        if s["seed"] == seed and s["per_key"] == per_key:
            return ControlDataset(s["mean"], s["std"], s["tokens"], s["hints"], float(s["scale_factor"]))
    data = build_dataset(vae, tokenizer, scale_factor, seed, per_key)
    save_state(path, {"mean": data.mean, "std": data.std, "tokens": data.tokens, "hints": data.hints,
                      "scale_factor": scale_factor, "seed": seed, "per_key": per_key})
    return data


class ContextTable:
    """Frozen text encoder outputs, computed once per distinct token row."""

    def __init__(self, text_encoder: Any) -> None:
        self.text_encoder = text_encoder
        self.cache: dict[tuple[int, ...], torch.Tensor] = {}

    @torch.no_grad()
    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        rows = []
        for row in tokens:
            key = tuple(row.tolist())
            if key not in self.cache:
                self.cache[key] = self.text_encoder(input_ids=row[None]).last_hidden_state[0]
            rows.append(self.cache[key])
        return torch.stack(rows)


def control_loss(controlnet: Any, unet: Any, contexts: ContextTable, data: ControlDataset,
                 settings: ControlNetSettings, alphas: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    n = settings.batch
    idx = torch.randint(0, len(data), (n,), generator=generator)
    z0 = (data.mean[idx] + data.std[idx] * torch.randn(data.mean[idx].shape, generator=generator)) * data.scale_factor
    tokens = data.tokens[idx].clone()
    tokens[torch.rand(n, generator=generator) < settings.cfg_dropout] = empty_row()
    hint = data.hints[idx].float() / 255.0
    t = torch.randint(0, alphas.shape[0], (n,), generator=generator)
    noise = torch.randn(z0.shape, generator=generator)
    a = alphas[t].view(n, 1, 1, 1)
    x_t = a.sqrt() * z0 + (1 - a).sqrt() * noise
    ctx = contexts(tokens)
    down, mid = controlnet(x_t, t, encoder_hidden_states=ctx, controlnet_cond=hint, return_dict=False)
    pred = unet(x_t, t, encoder_hidden_states=ctx, down_block_additional_residuals=down,
                mid_block_additional_residual=mid).sample
    snr = (a / (1 - a)).view(n)
    weight = torch.clamp(snr, max=settings.min_snr_gamma) / snr
    return (weight * (pred - noise).pow(2).mean(dim=(1, 2, 3))).mean()


def train_controlnet(controlnet: Any, unet: Any, text_encoder: Any, data: ControlDataset, alphas: torch.Tensor,
                     out_dir: Path, settings: ControlNetSettings, budget: StageBudget, resume: bool) -> None:
    """Train `controlnet` in place (the UNet and text encoder stay frozen)."""
    path = Path(out_dir) / STATE_FILE
    params = list(controlnet.parameters())
    opt = torch.optim.AdamW(params, lr=settings.lr, weight_decay=0.0, betas=(0.9, 0.99))
    start, total = 0, None
    if resume and path.is_file():
        state = load_state(path)
        controlnet.load_state_dict(state["controlnet"])
        opt.load_state_dict(state["optimizer"])
        start, total = int(state["step"]), int(state["total"])
    unet.eval().requires_grad_(False)
    text_encoder.eval().requires_grad_(False)
    controlnet.train().requires_grad_(True)
    contexts = ContextTable(text_encoder)

    def step_fn(step: int, planned: int | None) -> dict[str, float]:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, planned, settings.lr, settings.warmup)
        generator = torch.Generator().manual_seed(step_seed(settings.seed, "controlnet", step))
        loss = control_loss(controlnet, unet, contexts, data, settings, alphas, generator)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return {"loss": loss.item()}

    def save_fn(step: int, planned: int) -> None:
        save_state(path, {"controlnet": controlnet.state_dict(), "optimizer": opt.state_dict(),
                          "step": step, "total": planned})

    if total is None or start < total:
        run_stage("controlnet", step_fn, save_fn, budget, start, total)
    controlnet.eval().requires_grad_(False)
