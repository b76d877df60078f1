"""Seeds of a job: A1111's rules for batches and variation seeds."""

from __future__ import annotations

from dataclasses import dataclass

from modules.engine.request import GenerationRequest
from modules.noise import fix_seed


@dataclass(frozen=True)
class JobSeeds:
    seed: int
    subseed: int
    all_seeds: list[int]
    all_subseeds: list[int]


def job_seeds(req: GenerationRequest) -> JobSeeds:
    """Image i gets seed+i, unless a variation strength is set (then all share the seed)."""
    seed, subseed = fix_seed(req.seed), fix_seed(req.subseed)
    n = req.batch_size * req.n_iter
    step = 0 if req.subseed_strength > 0 else 1
    return JobSeeds(seed, subseed, [seed + i * step for i in range(n)], [subseed + i for i in range(n)])
