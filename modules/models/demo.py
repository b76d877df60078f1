"""The built-in demo model's recommended settings (read from the JSON beside it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# The prompt is a caption of the demo's world, so a fresh install's first Generate draws something
# recognisable (an empty prompt means nothing to this model).
FALLBACK = {"width": 64, "height": 64, "steps": 20, "cfg_scale": 3.0, "sampler_name": "Euler",
            "prompt": "a red circle on a blue background"}


def recommended_settings(model_file: Path) -> dict[str, Any]:
    """`<model>.json` {"width", "height", "steps", "cfg_scale", "sampler_name", "prompt"}; the fallback
    for what it lacks."""
    path = model_file.with_suffix(".json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return dict(FALLBACK)
    return {k: data.get(k, v) for k, v in FALLBACK.items()}
