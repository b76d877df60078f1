"""Train the demo LoRA: teach the demo model a shape it has never seen, a "ring".

    nice venv/bin/python -m modules.training.train_demo_lora --out /tmp/demo-lora --minutes 15 --threads 1

The base model (models-demo/demo-shapes.safetensors) is loaded by the app's own loader and frozen;
rank-4 adapters on its text encoder and UNet attention layers (modules/training/lora_adapters.py)
learn from the demo world with one more shape: half of each batch shows a ring (a disc with a
concentric hole) in any two colours, half are ordinary training scenes, so the LoRA adds the word
without changing the rest. The result is a kohya-format file that `<lora:demo-ring:1>` applies
through the normal LoRA path; `:0` leaves the model as it was (it then fills the middle).
(A new colour would not work: the demo VAE, which a LoRA does not change, cannot draw colours
outside its eight; a ring of known colours it reproduces well.)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from modules.training import world

NEW_SHAPE = "ring"
INNER_RATIO = 0.55  # the hole's radius as a share of the outer radius
LORA_NAME = "demo-ring"


def ring_mask(centre: tuple[float, float], half_size: float, size: int) -> np.ndarray:
    """Coverage of a ring (an anti-aliased disc minus a concentric smaller one)."""
    outer = world.shape_mask("circle", centre, half_size, size)
    return outer - world.shape_mask("circle", centre, half_size * INNER_RATIO, size)


def render_any(colour: str, shape: str, background: str, rng: random.Random) -> np.ndarray:
    """A world picture whose shape may be the new one."""
    cx = 0.5 + rng.uniform(-world.CENTRE_JITTER, world.CENTRE_JITTER)
    cy = 0.5 + rng.uniform(-world.CENTRE_JITTER, world.CENTRE_JITTER)
    half, size = rng.uniform(*world.HALF_SIZE_RANGE), world.NATIVE_SIZE
    mask = ring_mask((cx, cy), half, size) if shape == NEW_SHAPE else world.shape_mask(shape, (cx, cy), half, size)
    cover = mask[..., None]
    fg, bg = np.array(world.COLOURS[colour], np.float32), np.array(world.COLOURS[background], np.float32)
    return np.rint(cover * fg + (1 - cover) * bg).astype(np.uint8)


def new_shape_keys() -> list[tuple[str, str, str]]:
    return [(c, NEW_SHAPE, b) for c in world.COLOURS for b in world.COLOURS if b != c]


def dataset(seed: int, per_key: int) -> tuple[list[str], np.ndarray]:
    """Captions and images: every ring scene `per_key` times, as many ordinary scenes."""
    rng = random.Random(seed)
    new = [k for k in new_shape_keys() for _ in range(per_key)]
    old = [rng.choice(world.training_scene_keys()) for _ in range(len(new))]
    keys = new + old
    rng.shuffle(keys)
    images = np.stack([render_any(c, s, b, rng) for c, s, b in keys])
    return [world.caption_for(c, s, b) for c, s, b in keys], images


def hole_fraction(image: object) -> float:
    """How much of the drawn shape's outline is hollow: ~0.3 for a ring, ~0 for a filled shape.

    The background colour is read from the border; the shape is the largest region of pixels far
    from it; the hole is what filling that region's holes adds.
    """
    from scipy import ndimage

    from modules.training.judge import _as_rgb_array, _border_pixels

    img = _as_rgb_array(image)
    background = np.median(_border_pixels(img), axis=0)
    far = np.linalg.norm(img - background, axis=2) > 60
    labels, count = ndimage.label(far)
    if count == 0:
        return 0.0
    sizes = ndimage.sum(far, labels, index=range(1, count + 1))
    shape = labels == (1 + int(np.argmax(sizes)))
    filled = ndimage.binary_fill_holes(shape)
    return float((filled & ~shape).sum()) / float(max(1, filled.sum()))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train the demo model's ring LoRA.")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--base", type=Path, default=Path("models-demo/demo-shapes.safetensors"))
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=float)
    budget.add_argument("--steps", type=int)
    p.add_argument("--rank", type=int, default=4)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--per-key", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int)
    p.add_argument("--init", type=Path, help="continue from this LoRA file (same rank) instead of from zero")
    args = p.parse_args(argv)
    if args.minutes is None and args.steps is None:
        args.minutes = 15.0
    return args


def encode(model, images: np.ndarray, batch: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    from modules.training.vae_stage import images_to_tensor

    means, stds = [], []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            dist = model.vae.encode(images_to_tensor(images[i:i + batch])).latent_dist
            means.append(dist.mean)
            stds.append(dist.std)
    return torch.cat(means), torch.cat(stds)


def train(args: argparse.Namespace) -> Path:
    from modules.models.loader import alphas_cumprod, load_checkpoint
    from modules.training.captions import empty_row, token_rows
    from modules.training.lora_adapters import attach
    from modules.training.stage_loop import StageBudget, lr_at, run_stage, step_seed
    from modules.training.unet_stage import LINEAR_END, LINEAR_START, TIMESTEPS, UnetSettings, diffusion_loss

    model = load_checkpoint(args.base, dtype=torch.float32, vae_dtype=torch.float32)
    unet, text = model.unet.float(), model.text_encoders[0].model.float()
    for m in (unet, text, model.vae):
        m.requires_grad_(False)
    captions, images = dataset(args.seed, args.per_key)
    mean, std = encode(model, images)
    tokens = token_rows(model.text_encoders[0].tokenizer, captions)
    adapters = attach({"unet": unet, "te": text}, rank=args.rank, alpha=float(args.rank), seed=args.seed)
    if args.init:
        adapters.load(args.init)
    params = adapters.parameters()
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    settings = UnetSettings(seed=args.seed, batch=args.batch)
    alphas = alphas_cumprod(LINEAR_START, LINEAR_END, TIMESTEPS)
    scale = model.vae_scaling_factor
    unet.train()
    text.train()

    def step_fn(step: int, planned: int | None) -> dict[str, float]:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, planned, args.lr, 30)
        g = torch.Generator().manual_seed(step_seed(args.seed, "lora", step))
        idx = torch.randint(0, len(tokens), (args.batch,), generator=g)
        z0 = (mean[idx] + std[idx] * torch.randn(mean[idx].shape, generator=g)) * scale
        rows = tokens[idx].clone()
        rows[torch.rand(args.batch, generator=g) < settings.cfg_dropout] = empty_row()
        loss = diffusion_loss(unet, text, z0, rows, settings, alphas, g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return {"loss": loss.item()}

    out = Path(args.out) / f"{LORA_NAME}.safetensors"

    def save_fn(step: int, planned: int) -> None:
        """The LoRA file as of `step` (also mid-run, so an interrupted run still leaves a usable file)."""
        meta = {"ss_output_name": LORA_NAME, "ss_base_model_version": "sd_v1", "ss_network_dim": str(args.rank),
                "ss_network_alpha": str(args.rank), "ss_steps": str(step), "ss_seed": str(args.seed),
                "ss_training_comment": f"teaches the demo model the shape word '{NEW_SHAPE}'"}
        adapters.save(out, meta)

    budget = StageBudget(args.steps, args.minutes, 120.0)
    t0 = time.monotonic()
    total = run_stage("lora", step_fn, save_fn, budget)
    record = {"steps": total, "seconds": round(time.monotonic() - t0, 1), **{k: str(v) for k, v in vars(args).items()}}
    (Path(args.out) / "run.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"wrote {train(args)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
