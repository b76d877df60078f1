"""What progress says for a sampler that ignores the step count (DPM adaptive).

Why: the progress line normally reads "Step i/steps"; DPM adaptive chooses its own steps, so a
"10-step" picture may run 60 of them and the line would read "Step 60/10" with no explanation.
"""

from __future__ import annotations


def adaptive_progress_text(sampler_name: str, steps_done: int) -> str:
    """The extra progress text shown while such a sampler runs."""
    return (
        f"{sampler_name} picks its own number of steps (Sampling steps is ignored): "
        f"{steps_done} done so far"
    )
