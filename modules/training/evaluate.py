"""Measure what the demo model draws: sample a fixed prompt set and let the judge read the pictures.

Run: `venv/bin/python -m modules.training.evaluate models-demo/demo-shapes.safetensors [--grid out.png]`.
The prompt set is fixed (8 held-out scenes the model never saw, 16 seen ones) so numbers from
different runs compare; the model is loaded through the app's own loader, so a good score also
means the shipped file round-trips.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from modules.training import judge, world

EVAL_SEEDS = (1, 2)


def eval_prompts() -> list[tuple[str, bool]]:
    """(caption, unseen) pairs: the 8 held-out scenes, then 16 seen scenes picked with a fixed seed."""
    seen = random.Random(1234).sample(world.training_scene_keys(), 16)
    unseen = [(world.caption_for(*k), True) for k in world.HELD_OUT]
    return unseen + [(world.caption_for(*k), False) for k in seen]


@dataclass
class Tally:
    """Counts of correct background colour / shape colour / shape / all three."""

    n: int = 0
    background: int = 0
    colour: int = 0
    shape: int = 0
    all: int = 0

    def add(self, s: judge.Score) -> None:
        self.n += 1
        self.background += s.background_ok
        self.colour += s.colour_ok
        self.shape += s.shape_ok
        self.all += s.all_ok

    def line(self, name: str) -> str:
        pct = (lambda k: 100.0 * k / max(1, self.n))
        return (f"{name:>7}: n={self.n:3d}  background {pct(self.background):5.1f}%"
                f"  shape colour {pct(self.colour):5.1f}%"
                f"  shape {pct(self.shape):5.1f}%  all three {pct(self.all):5.1f}%")


@dataclass
class Report:
    total: Tally = field(default_factory=Tally)
    unseen: Tally = field(default_factory=Tally)
    seen: Tally = field(default_factory=Tally)
    failures: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = [self.total.line("all"), self.unseen.line("unseen"), self.seen.line("seen")]
        return "\n".join(lines + [f"  miss: {f}" for f in self.failures])


def judge_samples(images: Sequence[np.ndarray], captions: Sequence[str], unseen: Sequence[bool],
                  seeds: Sequence[int]) -> Report:
    report = Report()
    for image, caption, is_unseen, seed in zip(images, captions, unseen, seeds):
        s = judge.score(image, caption)
        report.total.add(s)
        (report.unseen if is_unseen else report.seen).add(s)
        if not s.all_ok:
            v = s.verdict
            report.failures.append(f"'{caption}' seed {seed}: read {v.colour} {v.shape} on {v.background}"
                                   f" (fill {v.fill_ratio:.2f})")
    return report


def evaluate(model: object, steps: int = 20, cfg_scale: float = 5.0,
             seeds: Sequence[int] = EVAL_SEEDS) -> tuple[Report, list[np.ndarray]]:
    """Sample every eval prompt with every seed and judge the pictures."""
    from modules.training.euler_sampler import sample

    pairs = [(c, u, s) for c, u in eval_prompts() for s in seeds]
    captions, unseen, all_seeds = zip(*pairs)
    images: list[np.ndarray] = []
    for i in range(0, len(pairs), 16):
        images += sample(model, captions[i:i + 16], all_seeds[i:i + 16], steps=steps, cfg_scale=cfg_scale)
    return judge_samples(images, captions, unseen, all_seeds), images


def save_grid(images: Sequence[np.ndarray], path: Path, columns: int = 8) -> Path:
    from PIL import Image

    size = images[0].shape[0]
    rows = (len(images) + columns - 1) // columns
    grid = np.zeros((rows * size, columns * size, 3), np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        grid[r * size:(r + 1) * size, c * size:(c + 1) * size] = img
    Image.fromarray(grid).save(path)
    return Path(path)


def main(argv: Sequence[str] | None = None) -> int:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser(description="Judge what a demo-world checkpoint draws.")
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--cfg", type=float, default=5.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(EVAL_SEEDS), help="seeds per prompt")
    parser.add_argument("--grid", type=Path, help="also save the pictures as one PNG grid")
    args = parser.parse_args(argv)
    from modules.models.loader import load_checkpoint

    model = load_checkpoint(args.checkpoint)
    report, images = evaluate(model, args.steps, args.cfg, args.seeds)
    print(f"{args.checkpoint}: Euler {args.steps} steps, CFG {args.cfg}, seeds {args.seeds}")
    print(report.text())
    if args.grid:
        save_grid(images, args.grid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
