"""Scheduled conditioning: the encoded prompt schedules and their per-step selection.

`PromptConditioner` (conditioning.py) fills these containers from the parser's schedules; the
CFG denoiser picks the rows in effect at each step with `reconstruct_*` (A1111's names). They
live in text/, not in the pure prompt parser, because they carry encoder output.
"""

from __future__ import annotations

from typing import NamedTuple

from modules.text.cond_batch import CondBatch


class ScheduledPromptConditioning(NamedTuple):
    """Conditioning (a one-row CondBatch) used up to and including `end_at_step`."""

    end_at_step: int
    cond: CondBatch


class ComposableScheduledPromptConditioning:
    """One AND sub-prompt: its schedule and its weight."""

    def __init__(self, schedules: list[ScheduledPromptConditioning], weight: float = 1.0) -> None:
        self.schedules = schedules
        self.weight = weight

    def __repr__(self) -> str:
        return f"ComposableScheduledPromptConditioning(steps={[s.end_at_step for s in self.schedules]}, " \
               f"weight={self.weight})"


class MulticondLearnedConditioning:
    """Per image in the batch, its list of AND sub-prompts."""

    def __init__(self, shape: tuple[int, ...],
                 batch: list[list[ComposableScheduledPromptConditioning]]) -> None:
        self.shape = shape  # (len(prompts),): what the sampler batch expects
        self.batch = batch


def _at_step(schedule: list[ScheduledPromptConditioning], current_step: int) -> CondBatch:
    for entry in schedule:
        if current_step <= entry.end_at_step:
            return entry.cond
    return schedule[0].cond  # A1111 falls back to the first entry past the end


def reconstruct_cond_batch(c: list[list[ScheduledPromptConditioning]], current_step: int) -> CondBatch:
    """The conditioning in effect at `current_step` for every prompt, as one batch."""
    if not c:
        raise ValueError("reconstruct_cond_batch needs at least one prompt's schedule")
    return CondBatch.concat([_at_step(schedule, current_step) for schedule in c])


def reconstruct_multicond_batch(
    c: MulticondLearnedConditioning, current_step: int,
) -> tuple[list[list[tuple[int, float]]], CondBatch]:
    """All AND sub-prompts of all images at `current_step`, flattened into one batch, plus
    per image `[(row, weight)]` saying which rows belong to it."""
    rows: list[CondBatch] = []
    conds_list: list[list[tuple[int, float]]] = []
    for composable_prompts in c.batch:
        entries = []
        for composable in composable_prompts:
            entries.append((len(rows), composable.weight))
            rows.append(_at_step(composable.schedules, current_step))
        conds_list.append(entries)
    if not rows:
        raise ValueError("reconstruct_multicond_batch needs at least one prompt")
    return conds_list, CondBatch.concat(rows)
