"""Training-state files: written atomically so a run killed mid-save can still be resumed.

A state is a plain dict of tensors, numbers, strings and lists (module and optimizer state dicts,
the step, the planned step count, the architecture) saved with torch.save and read back with
`weights_only=True`, so a resumed run never unpickles arbitrary objects.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


def save_state(path: Path, state: dict[str, Any]) -> Path:
    """Write `state` to `path` via a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_state(path: Path) -> dict[str, Any]:
    """Read a state written by save_state; a clear error when it is missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No training state at '{path}'; start without --resume to begin a new run.")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, ValueError) as err:
        raise RuntimeError(f"The training state '{path}' is unreadable ({err}); delete it to start "
                           "over.") from err
