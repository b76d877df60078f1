"""Recommended generation values of a checkpoint, for the fields an API request leaves out.

A1111's API defaults (512x512, 50 steps, CFG 7) suit SD1 models; with the built-in 64 px demo
model they take a minute to draw blobs, and an SDXL model draws best at 1024x1024 (Forge's
presets). So the model in use supplies its own values: the demo model those of its JSON
(`modules/models/demo.py`), an SDXL checkpoint (recognised from its safetensors header) 1024x1024.
Values the request sends always win; the answer's `info` names what was filled in.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from modules.models.demo import recommended_settings
from modules.models.detection import SDXL_CLIP_G_PREFIX

DEMO_FIELDS = ("width", "height", "steps", "cfg_scale", "sampler_name")
SDXL_DEFAULTS = {"width": 1024, "height": 1024}
MAX_HEADER = 100 * 1024 * 1024


def safetensors_keys(path: Path) -> list[str]:
    """Tensor names from a safetensors header (cheap: the weights are not read); [] when unreadable."""
    if path.suffix.lower() != ".safetensors" or not path.is_file():
        return []
    try:
        with path.open("rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            if length > MAX_HEADER:
                return []
            header = json.loads(f.read(length))
    except (OSError, struct.error, ValueError):
        return []
    return [k for k in header if k != "__metadata__"] if isinstance(header, dict) else []


def is_sdxl_file(path: Path) -> bool:
    return any(k.startswith(SDXL_CLIP_G_PREFIX) for k in safetensors_keys(path))


def recommended_defaults(info: Any) -> dict[str, Any]:
    """Field -> value the checkpoint `info` (a CheckpointInfo) recommends; {} for plain SD1 models."""
    if info is None:
        return {}
    if info.is_demo:
        rec = recommended_settings(info.filename)
        return {k: rec[k] for k in DEMO_FIELDS if k in rec}
    if not info.is_folder and is_sdxl_file(Path(info.filename)):
        return dict(SDXL_DEFAULTS)
    return {}
