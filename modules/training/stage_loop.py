"""The loop every training stage shares: time budget → step count, progress bar, periodic saves.

Why a step count planned from a time budget: "train for N minutes" is what fits a shared CPU, but a
learning-rate schedule needs its length and a re-run must be reproducible. So a stage times its
first steps, fixes `total` once, stores it in the state file, and a resumed or repeated run with
`--steps-*` gives exactly the same result (data and noise come from the step index, not from
hidden generator state).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

PROBE_STEPS = 4  # timed to turn minutes into steps (they are inside the warm-up)

StepFn = Callable[[int, int | None], dict[str, float]]
SaveFn = Callable[[int, int], None]


@dataclass(frozen=True)
class StageBudget:
    """How long a stage runs: a fixed step count, or minutes turned into steps after timing."""

    steps: int | None = None
    minutes: float | None = None
    save_every_s: float = 180.0

    def __post_init__(self) -> None:
        if (self.steps is None) == (self.minutes is None):
            raise ValueError("Give a stage either a step count or a number of minutes (exactly one).")
        if (self.steps is not None and self.steps < 1) or (self.minutes is not None and self.minutes <= 0):
            raise ValueError("A stage needs at least one step / a positive number of minutes.")


def lr_at(step: int, total: int | None, peak: float, warmup: int) -> float:
    """Linear warm-up, then cosine decay to 10% of the peak at `total`."""
    if step < warmup or total is None:
        return peak * min(1.0, (step + 1) / max(1, warmup))
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def step_seed(seed: int, stage: str, step: int) -> int:
    """A distinct, stable seed per (run seed, stage, step) — independent of Python's hash salt."""
    tag = sum((i + 1) * ord(ch) for i, ch in enumerate(stage))
    return (seed * 1_000_003 + tag * 7_919 + step) % (2**63 - 1)


def _plan(budget: StageBudget, start: int, elapsed: float, probed: int, average_cost: float) -> int:
    if budget.steps is not None:
        return budget.steps
    per_step = elapsed / max(1, probed) * average_cost
    return max(start + probed, int(budget.minutes * 60 / per_step))


def run_stage(name: str, step_fn: StepFn, save_fn: SaveFn, budget: StageBudget, start: int = 0,
              total: int | None = None, average_cost: float = 1.0) -> int:
    """Run steps `start`..total-1, saving every few minutes and at the end; returns `total`.

    `average_cost` is the mean cost of a step relative to the first (timed) ones, for stages whose
    later steps are dearer.
    """
    from tqdm import tqdm

    total = total if total is not None else (budget.steps if budget.steps is not None else None)
    bar = tqdm(total=total, initial=start, desc=name, file=sys.stderr, mininterval=10, ascii=True,
               unit="step")
    began = last_save = time.monotonic()
    step = start
    while total is None or step < total:
        losses = step_fn(step, total)
        step += 1
        bar.update(1)
        bar.set_postfix({k: f"{v:.4f}" for k, v in losses.items()}, refresh=False)
        if total is None and step - start >= PROBE_STEPS:
            total = _plan(budget, start, time.monotonic() - began, step - start, average_cost)
            bar.total = total
            print(f"\n[{name}] planned {total} steps from the time budget", file=sys.stderr, flush=True)
        if total is not None and time.monotonic() - last_save >= budget.save_every_s and step < total:
            save_fn(step, total)
            last_save = time.monotonic()
    bar.close()
    save_fn(step, total)
    return total
